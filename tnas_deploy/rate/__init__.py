"""Rate-coded networks (genome version 2, `coding.scheme = "rate"`); semantics in docs/rate.md."""
