# benches/compare.sh mail (or alone: benches/compare.sh mail_watch): watch latency.
#  - watch_latency_ms: the p50 over 200 single messages of the time from "sent" to arrival
#    at an SMTP sink that notes arrival times (benches/support/watch_latency.py), the next
#    message sent once the last arrived. Peer: a private Postfix instance (its own
#    config and queue under target/, no listener, no local delivery) relaying everything
#    to the sink, timed from the return of `sendmail`. squall: a durable spool enqueue
#    (benches/watch_latency.rs, timed from the return of the enqueue) and a watching
#    `spool-drain --watch` on that spool sending to the same sink.
set -euo pipefail
count=${WATCH_MESSAGES:-200}
if [ ! -x /usr/sbin/postfix ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "watch_latency_ms needs Postfix installed (apt-get install postfix, as root)" >&2
        exit 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y postfix >/dev/null
fi
if [ "$(id -u)" != 0 ]; then
    echo "watch_latency_ms runs a private Postfix instance, which needs root" >&2
    exit 1
fi

cargo build --quiet --release --no-default-features --features mail,cli \
    --bench watch_latency --bin spool-drain
enqueuer=$(ls -t target/release/deps/watch_latency-* | grep -v '\.d$' | head -1)
drain=target/release/spool-drain

work=$PWD/target/bench-watch
conf=$work/postfix/conf
rm -rf "$work" && mkdir -p "$conf" "$work/postfix/queue" "$work/postfix/data"
chown postfix "$work/postfix/data"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
arrivals=$work/arrivals
: >"$arrivals"
python3 benches/support/watch_latency.py sink "$port" "$arrivals" &
sink=$!
drainer=
cleanup() {
    postfix -c "$conf" stop >/dev/null 2>&1 || true
    [ -n "$drainer" ] && kill "$drainer" 2>/dev/null
    kill "$sink" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done

# The peer: every service chroot-free, no smtpd listener; everything relayed to the sink.
awk 'BEGIN { OFS = "  " }
     /^[#[:space:]]/ || NF < 8 { print; next }
     $1 == "smtp" && $2 == "inet" { next }
     { $5 = "n"; print }' /usr/share/postfix/master.cf.dist >"$conf/master.cf"
cat >"$conf/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $work/postfix/queue
data_directory = $work/postfix/data
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = bench.localdomain
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
relayhost = [127.0.0.1]:$port
inet_interfaces = loopback-only
inet_protocols = ipv4
smtp_tls_security_level = none
maillog_file = $work/postfix/maillog
maillog_file_prefixes = $work
CF
postfix -c "$conf" post-install create-missing >/dev/null
postfix -c "$conf" start >/dev/null 2>&1
peer=$(python3 benches/support/watch_latency.py drive "$arrivals" "$count" \
    sendmail /usr/sbin/sendmail -C "$conf")
postfix -c "$conf" stop >/dev/null 2>&1

# squall: a durable spool and a watching drainer (its poll is only a safety net).
"$drain" --queue "spool:$work/spool" --via "smtp://127.0.0.1:$port" --watch >&2 &
drainer=$!
squall=$(python3 benches/support/watch_latency.py drive "$arrivals" "$count" \
    enqueuer "$enqueuer" "$work/spool")

python3 -c "print(f'METRIC watch_latency_ms squall=$squall peer=$peer ratio={$squall / $peer:.2f} unit=ms')"
