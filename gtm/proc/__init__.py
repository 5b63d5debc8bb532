"""gtm's processes: the worker pool and the worker process, their channel, the handoff of sockets to the next
instance, the child process that loads a big config, the shared memory the zones live in, and memory policy."""
