// Package pods forwards to the public package pkg/pods, where the pod predicates shared by
// state, scheduling and the controllers live; it remains so existing imports keep working.
package pods
