"""Network emulation for tests and benchmarks: a fault-injecting TCP proxy and netns links."""
