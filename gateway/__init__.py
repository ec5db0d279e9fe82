"""Fleet push gateway: streams live truck telemetry over WebSocket and REST."""
