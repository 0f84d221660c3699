package v1_test

import (
	"os"
	"testing"

	"github.com/gokarpenter/karpenter/pkg/test"
)

// env is one real API server for the whole package, started by TestMain.
var env *test.Environment

func TestMain(m *testing.M) { os.Exit(test.Main(m, &env)) }
