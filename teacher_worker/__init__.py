"""ELLM-rele teacher: CoT prompt and parsing, backends, labelling worker, SFT and eval."""
