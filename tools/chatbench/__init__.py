"""chatbench: the load generator of the chat service, with the stack's own limit beside every number.

The program behind bin/chatbench (`python -m tools.chatbench`). The pieces:

    _cli, _bench     the command line; one run over stores and scenarios
    _drivers         the bench's side of each scenario: phases, timing, numbers
    _messaging       pingpong, throughput, fanout (the workers' side)
    _idle, _storm    idle devices; the reconnect storm (the workers' side)
    _abuse           innocent pairs beside each kind of hostile client, a node per sub-run
    _hostile         the hostile clients, raw frames (the workers' side)
    _fleet           the load-generating worker processes and their control
    _links           one simulated device's socket, to a node or to the baseline
    _echo            the baseline: a bare trio-websocket server (run as a script)
    _servers         starting and stopping the servers; the stores
    _accounts        accounts made before any timing
    _procfs          a process's CPU and memory, from /proc
    _stats, _report, _plots, _progress, _machine, _profile, _runtime
"""

from ._cli import main

__all__ = ["main"]
