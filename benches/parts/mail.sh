# benches/compare.sh mail: squall's SMTP backend, disk spool and spool-drain, each beside
# a peer in the same run.
#  - SMTP push: 20,000 messages of about 2 KB into Postfix's smtp-sink, squall's backend
#    against Postfix's smtp-source, over one connection and over four (connections reused,
#    as squall does: smtp-source -d).
#  - Enqueue p50: a durable spool enqueue against a bare create+write+fsync+rename+dir-fsync
#    of the same bytes; a non-durable enqueue against the 30 us goal.
#  - Drain: spool-drain --concurrency 4 sending 20,000 queued messages into smtp-sink,
#    against smtp-source -s 4 on the same sink; the peak RSS of a 100,000-message drain
#    against the 100 MB goal.
set -euo pipefail
messages=${MESSAGES:-20000}
pf=target/postfix
if [ ! -x "$pf/usr/sbin/smtp-sink" ]; then
    mkdir -p "$pf"
    (cd target && apt-get download postfix >/dev/null)
    dpkg -x target/postfix_*.deb "$pf"
fi
export LD_LIBRARY_PATH="$PWD/$pf/usr/lib/postfix"
sink_user=$( [ "$(id -u)" = 0 ] && echo "-u nobody" || true )

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$pf/usr/sbin/smtp-sink" $sink_user "127.0.0.1:$port" 256 &
sink=$!
work=target/bench-spool
trap 'kill $sink 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done

cargo build --quiet --release --no-default-features --features mail,cli \
    --bench smtp_push --bench spool_bench --bin spool-drain
bench() { ls -t target/release/deps/"$1"-* | grep -v '\.d$' | head -1; }
smtp_push=$(bench smtp_push)
spool_bench=$(bench spool_bench)
drain=target/release/spool-drain

now() { date +%s.%N; }
rate() { python3 -c "print(f'{$1 / ($3 - $2):.1f}')"; }
metric() { # name squall peer unit
    python3 -c "print(f'METRIC $1 squall=$2 peer=$3 ratio={$2 / $3:.2f} unit=$4')"
}
peer_rate() { # sessions
    local start end
    start=$(now)
    "$pf/usr/sbin/smtp-source" -d -m "$messages" -s "$1" -l 2048 \
        -f bench@example.com -t sink@example.com "127.0.0.1:$port"
    end=$(now)
    rate "$messages" "$start" "$end"
}

peer1=$(peer_rate 1)
squall1=$("$smtp_push" --addr "127.0.0.1:$port" --messages "$messages" --connections 1)
peer4=$(peer_rate 4)
squall4=$("$smtp_push" --addr "127.0.0.1:$port" --messages "$messages" --connections 4)

rm -rf "$work" && mkdir -p "$work"
read -r durable bare nondurable < <("$spool_bench" enqueue "$work")

rm -rf "$work" && mkdir -p "$work"
"$spool_bench" fill "$work/q" "$messages"
start=$(now)
"$drain" --queue "spool:$work/q" --via "smtp://127.0.0.1:$port" --concurrency 4 >&2
end=$(now)
drained=$(rate "$messages" "$start" "$end")
peer4b=$(peer_rate 4)

rm -rf "$work" && mkdir -p "$work"
"$spool_bench" fill "$work/big" 100000
rss_kb=$(python3 - "$drain" --queue "spool:$work/big" --via "smtp://127.0.0.1:$port" --concurrency 4 <<'PY'
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
PY
)
rss_mb=$(python3 -c "print(f'{$rss_kb / 1024:.1f}')")

metric smtp_push_msgs_per_s "$squall1" "$peer1" msg/s
metric smtp_push4_msgs_per_s "$squall4" "$peer4" msg/s
metric durable_enqueue_p50 "$durable" "$bare" us
metric nondurable_enqueue_p50_us "$nondurable" 30 us
metric drain_msgs_per_s "$drained" "$(python3 -c "print(($peer4 + $peer4b) / 2)")" msg/s
metric drain_peak_rss_mb "$rss_mb" 100 MB

# --- drain_big_message_rss_ratio -------------------------------------------------------
# One message with a 20 MB attachment (about 28 MB once in base64) drained into smtp-sink:
# the drainer's peak RSS minus its peak RSS draining one small message, against the
# message's size. Goal: at most 1.5 (the message is held once, as it was read).
big_mb=${BIG_MB:-20}
# GNU time, not Python: a child forked from Python starts with Python's RSS as its peak,
# more than a small drain ever reaches.
peak_rss_kb() { # command...: runs it, prints its peak RSS in KiB
    if [ ! -x /usr/bin/time ]; then
        echo "benches/parts/mail.sh: drain_big_message_rss_ratio needs GNU time (apt-get install time)" >&2
        exit 1
    fi
    /usr/bin/time -f %M -o "$work/rss" "$@" >/dev/null
    cat "$work/rss"
}
rm -rf "$work" && mkdir -p "$work"
"$spool_bench" fill "$work/small" 1
small_kb=$(peak_rss_kb "$drain" --queue "spool:$work/small" --via "smtp://127.0.0.1:$port")
big_bytes=$("$spool_bench" fill-big "$work/one-big" "$big_mb")
big_kb=$(peak_rss_kb "$drain" --queue "spool:$work/one-big" --via "smtp://127.0.0.1:$port")
metric drain_big_message_rss_ratio \
    "$(python3 -c "print(f'{($big_kb - $small_kb) / 1024:.1f}')")" \
    "$(python3 -c "print(f'{$big_bytes / 1048576:.1f}')")" MB

# Watch latency (spool-drain --watch against Postfix): its own script.
bash benches/parts/mail_watch.sh
