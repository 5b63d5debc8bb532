"""The control process's parts, wired by ``gtm.runtime``: the override watcher, probing and the node status."""
