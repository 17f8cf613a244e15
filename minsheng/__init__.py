"""minsheng core: label sets, text pipeline, the multi-head model and routing, shared by service and training."""
