// Package conformance is the test suite every CloudProvider passes. A provider's tests call
// Run with a constructor; the suite launches, reads, lists and deletes instances, checks the
// typed errors and that launches follow the rule (the cheapest available offering whose
// instance type, zone and capacity type satisfy the NodeClaim), and that nothing is left
// running at the end of each case.
package conformance
