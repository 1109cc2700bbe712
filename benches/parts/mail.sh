# benches/compare.sh mail: squall's SMTP backend, disk spool and spool-drain, each beside
# a peer in the same run.
#  - SMTP push: 20,000 messages of about 2 KB into Postfix's smtp-sink, squall's backend
#    against Postfix's smtp-source, over one connection and over four (connections reused,
#    as squall does: smtp-source -d).
#  - Enqueue p50: a durable spool enqueue against a bare create+write+fsync+rename+dir-fsync
#    of the same bytes; a non-durable enqueue against the 30 us goal.
#  - Drain (3 interleaved rounds, medians): spool-drain --concurrency 4 sending 20,000
#    queued messages into smtp-sink, against smtp-source -s 4 on the same sink, and
#    against squall's own SMTP push over the same 4 connections (the queue's own cost);
#    the peak RSS of a 100,000-message drain against the 100 MB goal.
#  - Postfix's own queue (a private instance, relaying to the same smtp-sink): 16
#    concurrent durable enqueuers on a spool against Postfix's smtpd taking
#    `smtp-source -s 16` while delivery is held; then PF_MESSAGES (9,000) durable messages
#    on each side drained: spool-drain --concurrency 4 against Postfix released and
#    timed until its queue is empty (4 connections to the sink).
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

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
"$pf/usr/sbin/smtp-sink" $sink_user "127.0.0.1:$port" 256 &
sink=$!
work=target/bench-spool

# ---- Postfix, the queue (a private instance; shared by the Postfix-based lines) -----------
# postfix_up SINKPORT: installs the postfix package if needed (root only) and starts a
# private instance: config, queue and data under $pfrun, its smtpd on 127.0.0.1:$pfport,
# everything relayed to 127.0.0.1:SINKPORT, delivery held (defer_transports = smtp) until
# postfix_release. No local delivery, no chroot, nothing on port 25. postfix_down stops it.
pfrun=$PWD/target/postfix-run
postfix_up() {
    if [ ! -x /usr/sbin/postfix ]; then
        [ "$(id -u)" = 0 ] || { echo "postfix is not installed (needs root)" >&2; return 1; }
        echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
        DEBIAN_FRONTEND=noninteractive apt-get install -y postfix >/dev/null
    fi
    postfix_down
    rm -rf "$pfrun" && mkdir -p "$pfrun/etc"
    chmod 755 "$pfrun"
    pfport=$(free_port)
    cat >"$pfrun/etc/main.cf" <<CONF
compatibility_level = 3.6
queue_directory = $pfrun/queue
data_directory = $pfrun/data
mail_owner = postfix
setgid_group = postdrop
myhostname = bench.localdomain
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
mydestination =
alias_maps =
alias_database =
local_recipient_maps =
local_transport = error:no local delivery
relayhost = [127.0.0.1]:$1
default_transport = smtp
defer_transports = smtp
smtp_destination_concurrency_limit = 4
default_destination_concurrency_limit = 4
smtp_connection_cache_destinations = [127.0.0.1]:$1
smtp_tls_security_level = none
smtpd_tls_security_level = none
in_flow_delay = 0s
biff = no
maillog_file = $pfrun/maillog
maillog_file_prefixes = $pfrun
CONF
    cat >"$pfrun/etc/master.cf" <<CONF
127.0.0.1:$pfport inet n - n - - smtpd
pickup    unix n - n 60   1 pickup
cleanup   unix n - n -    0 cleanup
qmgr      unix n - n 300  1 qmgr
rewrite   unix - - n -    - trivial-rewrite
bounce    unix - - n -    0 bounce
defer     unix - - n -    0 bounce
trace     unix - - n -    0 bounce
verify    unix - - n -    1 verify
flush     unix n - n 1000? 0 flush
proxymap  unix - - n -    - proxymap
smtp      unix - - n -    - smtp
relay     unix - - n -    - smtp
showq     unix n - n -    - showq
error     unix - - n -    - error
retry     unix - - n -    - error
discard   unix - - n -    - discard
anvil     unix - - n -    1 anvil
scache    unix - - n -    1 scache
postlog   unix-dgram n - n - 1 postlogd
CONF
    mkdir -p "$pfrun/queue" "$pfrun/data"
    postfix -c "$pfrun/etc" set-permissions >&2
    postfix -c "$pfrun/etc" start >&2
    for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$pfport) 2>/dev/null && break; sleep 0.1; done
}
postfix_down() {
    if [ -f "$pfrun/etc/main.cf" ]; then postfix -c "$pfrun/etc" stop >/dev/null 2>&1 || true; fi
}
# Files in Postfix's queues (incoming, active, deferred, maildrop, hold).
postfix_queued() {
    find "$pfrun/queue/incoming" "$pfrun/queue/active" "$pfrun/queue/deferred" \
        "$pfrun/queue/maildrop" "$pfrun/queue/hold" -type f 2>/dev/null | wc -l
}
# Waits until Postfix's queue manager has taken in all it was given (nothing in incoming
# or active), then lets delivery go: defer_transports cleared, the deferred queue flushed.
postfix_release() {
    until [ "$(find "$pfrun/queue/incoming" "$pfrun/queue/active" -type f | wc -l)" = 0 ]; do
        sleep 0.2
    done
    postconf -c "$pfrun/etc" -e defer_transports=
    postfix -c "$pfrun/etc" reload >/dev/null 2>&1
    postqueue -c "$pfrun/etc" -f
}
# ---- end of the Postfix block ------------------------------------------------------------

trap 'postfix_down; kill $sink 2>/dev/null; rm -rf "$work" "$pfrun"' EXIT
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

# Drain, in interleaved rounds so that each side sees the same machine (the median of
# each): spool-drain --concurrency 4, smtp-source -s 4 on the same sink, and squall's own
# SMTP push over the same 4 connections (what the queue's own work costs on top).
median() { python3 -c "import statistics, sys; print(statistics.median(map(float, sys.argv[1:])))" "$@"; }
drains=() sources=() pushes=()
for _ in 1 2 3; do
    rm -rf "$work" && mkdir -p "$work"
    "$spool_bench" fill "$work/q" "$messages"
    start=$(now)
    "$drain" --queue "spool:$work/q" --via "smtp://127.0.0.1:$port" --concurrency 4 >&2
    end=$(now)
    drains+=("$(rate "$messages" "$start" "$end")")
    sources+=("$(peer_rate 4)")
    pushes+=("$("$smtp_push" --addr "127.0.0.1:$port" --messages "$messages" --connections 4)")
done
echo "drain rounds: spool-drain ${drains[*]}; smtp-source ${sources[*]}; push ${pushes[*]}" >&2
drained=$(median "${drains[@]}")
peer4b=$(median "${sources[@]}")
push4b=$(median "${pushes[@]}")

# Postfix's queue, both sides durable. Intake: 16 concurrent durable enqueuers on a spool
# against `smtp-source -s 16` into a Postfix holding delivery, in interleaved rounds (the
# median of each side; these machines are noisy). Drain: what each side took in (records
# fsynced, on disk), spool-drain --concurrency 4 against Postfix released, timed until
# its queue is empty.
pf_messages=${PF_MESSAGES:-9000}
pf_round=$((pf_messages / 3))
rm -rf "$work" && mkdir -p "$work"
postfix_up "$port"
sync # the drains above leave much to write back; neither side should pay for it
squalls=() peers=()
for _ in 1 2 3; do
    squalls+=("$("$spool_bench" concurrent "$work/q16" "$pf_round" 16)")
    start=$(now)
    "$pf/usr/sbin/smtp-source" -m "$pf_round" -s 16 -l 2048 \
        -f bench@example.com -t sink@example.com "127.0.0.1:$pfport"
    end=$(now)
    peers+=("$(rate "$pf_round" "$start" "$end")")
done
echo "16-writer enqueue rounds: squall ${squalls[*]}; postfix ${peers[*]}" >&2
enqueue16=$(median "${squalls[@]}")
pf_enqueue16=$(median "${peers[@]}")
start=$(now)
"$drain" --queue "spool:$work/q16" --via "smtp://127.0.0.1:$port" --concurrency 4 >&2
end=$(now)
drained_pf=$(rate "$((pf_round * 3))" "$start" "$end")
postfix_release
start=$(now)
until [ "$(postfix_queued)" = 0 ]; do sleep 0.05; done
end=$(now)
pf_drained=$(rate "$((pf_round * 3))" "$start" "$end")
postfix_down

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
metric drain_msgs_per_s "$drained" "$peer4b" msg/s
metric drain_vs_push_ratio "$drained" "$push4b" msg/s
metric postfix_queue_drain_msgs_per_s "$drained_pf" "$pf_drained" msg/s
metric concurrent_enqueue_msgs_per_s "$enqueue16" "$pf_enqueue16" msg/s
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
