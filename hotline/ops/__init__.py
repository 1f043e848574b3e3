"""Operations: health probes (health), Prometheus metrics (metrics), structured logs (logs)
and the request id carried from a webhook into its jobs (requestid); `wiring.init_ops`
plugs them into the app. Kept empty so that `hotline.queueing` can import `requestid`
without the rest."""
