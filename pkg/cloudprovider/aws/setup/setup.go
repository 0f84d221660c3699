package setup

import (
	"context"
	"fmt"

	awsprovider "github.com/gokarpenter/karpenter/pkg/cloudprovider/aws"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/aws/interruption"
	"github.com/gokarpenter/karpenter/pkg/cloudprovider/aws/nodeclass"
)

// New builds the provider and its controllers.
func New(ctx context.Context, d awsprovider.SetupDeps) (*awsprovider.Provider, []awsprovider.Controller, error) {
	d.NewControllers = controllers
	p, ctrls, err := awsprovider.Setup(ctx, d)
	if err != nil {
		return nil, nil, fmt.Errorf("building aws provider: %w", err)
	}
	return p, ctrls, nil
}

func controllers(p *awsprovider.Provider, d awsprovider.SetupDeps) ([]awsprovider.Controller, error) {
	out := []awsprovider.Controller{nodeclass.NewController(nodeclass.Deps{Client: d.Cached, Resolver: p, Recorder: d.Recorder})}
	if q := p.Options().InterruptionQueue; q != "" {
		ic, err := interruption.NewController(interruption.Deps{
			SQS: p.Clients().SQS, Queue: q, Client: d.Cached, Unavailable: p.Unavailable(),
			Recorder: d.Recorder, Clock: d.Clock, Registerer: d.Registerer,
		})
		if err != nil {
			return nil, err
		}
		out = append(out, ic)
	}
	return out, nil
}
