# benches/compare.sh mail: squall's SMTP backend against Postfix's smtp-source, both
# pushing 20,000 messages of about 2 KB into Postfix's smtp-sink on a loopback port, over
# one connection and over four (connections reused, as squall does: smtp-source -d).
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
trap 'kill $sink 2>/dev/null' EXIT
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done

cargo build --quiet --release --bench smtp_push --no-default-features --features mail
bench=$(ls -t target/release/deps/smtp_push-* | grep -v '\.d$' | head -1)

peer_rate() { # sessions
    local start end
    start=$(date +%s.%N)
    "$pf/usr/sbin/smtp-source" -d -m "$messages" -s "$1" -l 2048 \
        -f bench@example.com -t sink@example.com "127.0.0.1:$port"
    end=$(date +%s.%N)
    python3 -c "print(f'{$messages / ($end - $start):.1f}')"
}

metric() { # name squall peer
    python3 -c "print(f'METRIC $1 squall=$2 peer=$3 ratio={$2 / $3:.2f} unit=msg/s')"
}

peer1=$(peer_rate 1)
squall1=$("$bench" --addr "127.0.0.1:$port" --messages "$messages" --connections 1)
peer4=$(peer_rate 4)
squall4=$("$bench" --addr "127.0.0.1:$port" --messages "$messages" --connections 4)
metric smtp_push_msgs_per_s "$squall1" "$peer1"
metric smtp_push4_msgs_per_s "$squall4" "$peer4"
