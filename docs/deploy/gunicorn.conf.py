"""Gunicorn settings of one regiq monitor process (README, "Monitor": Production).

One process per port, several of them behind a balancer with sticky sessions
(haproxy.cfg, nginx.conf next to this file), all with the same ``REGIQ_*`` environment:

    gunicorn -c docs/deploy/gunicorn.conf.py -b 127.0.0.1:5001 'regiq_tasks.monitor:create_app()'
    gunicorn -c docs/deploy/gunicorn.conf.py -b 127.0.0.1:5002 'regiq_tasks.monitor:create_app()'
    gunicorn -c docs/deploy/gunicorn.conf.py -b 127.0.0.1:5003 'regiq_tasks.monitor:create_app()'

tests/test_balancer.py and benchmarks/bench_balancer.py start their monitors with this file.
"""

# A Socket.IO session lives in the process that accepted it, and Gunicorn does not keep a
# client on one worker: never more than one worker per process (more processes instead).
workers = 1
# Threading mode: every open WebSocket holds a thread, REST requests take the others.
# Count the clients one process holds when another process died and its clients came
# over, plus some for REST (threads are started as they are needed).
worker_class = "gthread"
threads = 200
# Gunicorn 27 opens a control socket at one default path per user: of several monitors on
# one host only the last one started would answer there. regiq does not need it.
control_socket_disable = True
# WebSocket connections stay open; this is only the worker's heartbeat to the master.
timeout = 30
graceful_timeout = 10
