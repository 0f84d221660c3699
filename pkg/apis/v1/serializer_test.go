package v1_test

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"

	"github.com/gokarpenter/karpenter/pkg/test"
)

func serializerFor(e *test.Environment) runtime.NegotiatedSerializer {
	return serializer.NewCodecFactory(e.Scheme).WithoutConversion()
}
