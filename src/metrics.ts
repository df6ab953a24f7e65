/**
 * Entry point `express-transactionale/metrics`: Prometheus metrics of the middleware with prom-client.
 * Kept apart from the main entry so that only shops that use it need prom-client (an optional peer
 * dependency, loaded when `registerMetrics()` is called).
 */
export {
  registerMetrics,
  METRICS_DEFAULTS,
  ATTEMPT_BUCKETS,
  ORDER_TO_DELIVERED_BUCKETS,
} from './metrics/register-metrics'
export type { MetricsOptions, TouchpointMetrics, MetricsDeps, MeasuredTouchpoint } from './metrics/register-metrics'
