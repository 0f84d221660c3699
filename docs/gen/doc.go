// Command gen writes the API reference pages of docs/reference from the CRDs' OpenAPI
// schemas (config/crd, the output of controller-gen), so the reference says exactly what
// the API server enforces: every field with its type, default, limits and description, and
// every CEL validation rule with its message. Run it with `make docs` (or `make generate`);
// a test fails when the committed pages are stale.
package main
