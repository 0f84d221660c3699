// Package metrics decorates any CloudProvider with Prometheus metrics, so providers stay
// free of instrumentation:
//
//   - karpenter_cloudprovider_duration_seconds{controller,method,provider}, a histogram
//     of how long each call took;
//   - karpenter_cloudprovider_errors_total{controller,method,provider,error}, a counter of
//     failed calls by error type (NodeClaimNotFoundError, InsufficientCapacityError,
//     NodeClassNotReadyError, CreateError, or UnknownError).
//
// The collectors are registered on the prometheus.Registerer the caller passes; nothing
// touches the global registry. The controller label comes from the context (WithController);
// calls made outside a labelled context carry controller="".
package metrics
