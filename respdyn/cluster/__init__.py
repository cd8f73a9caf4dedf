"""The replicated store's cluster layer.

Pure modules (no sockets, threads, gevent or clock reads; time is passed in), each citing its
source: `hashing` (Redis Cluster slots), `ring` (Dynamo strategy 3 + Riak claim), `dvv` (dotted
version vector sets), `quorum` (put/get tally), `merkle` (anti-entropy hash trees), `phi`
(phi-accrual failure detector). The I/O modules (transport, coordinator, gossip, handoff,
anti-entropy) drive them and only ask them questions.
"""
