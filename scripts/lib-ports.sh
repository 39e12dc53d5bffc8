# Shared by the benchmark scripts that start servers on loopback (sourced, not run):
# port: a free TCP port on 127.0.0.1; wait_port PORT: wait (10 s) until something listens.
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.05; done; echo "port $1 not up" >&2; exit 1; }
