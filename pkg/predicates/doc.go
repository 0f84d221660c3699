// Package predicates holds the watch filters the controllers share: events that change
// nothing a controller decides on are dropped before they are queued, so a quiet cluster of
// thousands of nodes costs (almost) nothing. The scale suite uses them too, to say which
// events of a quiet window were only heartbeats.
package predicates
