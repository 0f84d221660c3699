// Package controllers is the one place that knows every controller the karpenter
// controller runs; NewControllers builds them from shared dependencies. Each controller
// lives in its own sub-package with NewController, Name, Register and a typed Reconcile.
package controllers
