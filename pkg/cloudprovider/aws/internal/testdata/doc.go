// Package testdata locates the shared test data (../shared/data next to main's checkout, or
// /work/shared/data) for the AWS provider's tests.
package testdata
