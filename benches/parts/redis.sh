# benches/compare.sh redis: squall's Redis queue beside raw Redis in the same run, on a
# private redis-server (a free loopback port, AOF on with appendfsync everysec, in target/).
#  - Enqueue: single-client enqueue of ~2 KB messages (one XADD each) against
#    `redis-benchmark -c 1 -P 1 XADD bench * f <value>` with a value of the same size as
#    squall's stored record, on the same server.
#  - Pipelined batch enqueue (100 a batch): msgs/s, against the same single-client raw rate.
#  - Drain: MESSAGES queued messages into Postfix's smtp-sink by 1, 2 and 4 spool-drain
#    processes (--concurrency 4 each), against smtp-source -s 4 on the same sink.
set -euo pipefail
messages=${MESSAGES:-20000}
enqueues=${ENQUEUES:-20000}
pf=target/postfix
if [ ! -x "$pf/usr/sbin/smtp-sink" ]; then
    mkdir -p "$pf"
    (cd target && apt-get download postfix >/dev/null)
    dpkg -x target/postfix_*.deb "$pf"
fi
export LD_LIBRARY_PATH="$PWD/$pf/usr/lib/postfix"
sink_user=$( [ "$(id -u)" = 0 ] && echo "-u nobody" || true )
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

work=$PWD/target/bench-redis
rm -rf "$work" && mkdir -p "$work"
rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --dir "$work" --save "" --appendonly yes \
    --appendfsync everysec --daemonize no --logfile redis.log &
redis=$!
port=$(free_port)
"$pf/usr/sbin/smtp-sink" $sink_user "127.0.0.1:$port" 256 &
sink=$!
trap 'kill $sink $redis 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done

cargo build --quiet --release --no-default-features --features redis,cli \
    --bench redis_bench --bin spool-drain
tdir=${CARGO_TARGET_DIR:-target}
bench=$(ls -t "$tdir"/release/deps/redis_bench-* | grep -v '\.d$' | head -1)
drain=$tdir/release/spool-drain

now() { date +%s.%N; }
rate() { python3 -c "print(f'{$1 / ($3 - $2):.1f}')"; }
metric() { # name squall peer unit
    python3 -c "print(f'METRIC $1 squall=$2 peer=$3 ratio={$2 / $3:.2f} unit=$4')"
}
url() { echo "redis://127.0.0.1:$rport/0?queue=$1"; }

size=$("$bench" size)
value=$(head -c "$size" /dev/zero | tr '\0' x)
raw_rate() { # redis-benchmark, one client, one command in flight
    redis-benchmark -h 127.0.0.1 -p "$rport" -c 1 -P 1 -n "$enqueues" --csv \
        XADD bench '*' f "$value" | tail -1 | cut -d, -f2 | tr -d '"'
    redis-cli -p "$rport" DEL bench >/dev/null
}

# Interleaved rounds, so that both see the same server and the same machine load; the
# median of each side is reported (these shared machines are noisy).
peers=() squalls=()
for round in 1 2 3 4 5; do
    peers+=("$(raw_rate)")
    squalls+=("$("$bench" enqueue "$(url "e$round")" "$enqueues")")
    redis-cli -p "$rport" DEL "{e$round}:stream" >/dev/null
done
median() { python3 -c "import statistics, sys; print(statistics.median(map(float, sys.argv[1:])))" "$@"; }
echo "single-client enqueue rounds: squall ${squalls[*]}; redis-benchmark ${peers[*]}" >&2
peer=$(median "${peers[@]}")
squall=$(median "${squalls[@]}")
batch=$("$bench" batch "$(url b1)" "$enqueues" 100)
redis-cli -p "$rport" DEL '{b1}:stream' >/dev/null
crate_raw=$("$bench" raw "redis://127.0.0.1:$rport/0" "$enqueues" "$size")
redis-cli -p "$rport" DEL rawbench >/dev/null
echo "record size $size bytes; raw XADD through the redis crate: $crate_raw msg/s" >&2

peer_drain() {
    local start end
    start=$(now)
    "$pf/usr/sbin/smtp-source" -d -m "$messages" -s 4 -l 2048 \
        -f bench@example.com -t sink@example.com "127.0.0.1:$port"
    end=$(now)
    rate "$messages" "$start" "$end"
}
drain_rate() { # processes
    local q="d$1" start end pids=()
    "$bench" fill "$(url "$q")" "$messages"
    start=$(now)
    for _ in $(seq "$1"); do
        "$drain" --queue "$(url "$q")" --via "smtp://127.0.0.1:$port" --concurrency 4 >&2 &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p"; done
    end=$(now)
    left=$(redis-cli -p "$rport" XLEN "{$q}:stream")
    [ "$left" = 0 ] || echo "warning: $left left in {$q}:stream" >&2
    rate "$messages" "$start" "$end"
}
d1=$(drain_rate 1)
d2=$(drain_rate 2)
d4=$(drain_rate 4)
sink_peer=$(peer_drain)

metric redis_enqueue_msgs_per_s "$squall" "$peer" msg/s
metric redis_batch_enqueue_msgs_per_s "$batch" "$peer" msg/s
metric redis_drain1_msgs_per_s "$d1" "$sink_peer" msg/s
metric redis_drain2_msgs_per_s "$d2" "$sink_peer" msg/s
metric redis_drain4_msgs_per_s "$d4" "$sink_peer" msg/s
