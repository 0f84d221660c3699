package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestControllerStopsOnInvalidSettings: a bad setting stops the controller before it
// connects anywhere, with exit status 2 and a message naming the setting.
func TestControllerStopsOnInvalidSettings(t *testing.T) {
	for env, val := range map[string]string{
		"FEATURE_GATES":      "Drift=true",
		"BATCH_MAX_DURATION": "soon",
		"MIN_VALUES_POLICY":  "Sometimes",
		"KUBE_CLIENT_BURST":  "0",
	} {
		t.Run(env, func(t *testing.T) {
			t.Setenv(env, val)
			var stdout, stderr bytes.Buffer
			if code := runController(nil, &stdout, &stderr); code != 2 {
				t.Fatalf("exit %d, want 2 (stderr %q)", code, stderr.String())
			}
			if !strings.Contains(stderr.String(), env) {
				t.Errorf("stderr %q does not name %s", stderr.String(), env)
			}
		})
	}
}

func TestControllerHelpExitsZero(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := runController([]string{"--help"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"-feature-gates", "env FEATURE_GATES", "-metrics-port", "env METRICS_PORT"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
}
