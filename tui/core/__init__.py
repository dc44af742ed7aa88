"""The app's headless core: marks, the replica gateway, config. Never imports Textual
(so it is tested without a terminal and reused by the benchmark)."""
