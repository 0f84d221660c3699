package operator

import "flag"

// ProviderSettings are the cloud providers' settings groups, parsed with the core settings
// (Parse's extra groups): the aws provider's CLUSTER_NAME, INTERRUPTION_QUEUE, ... They are
// always registered, so a command line is valid whatever the provider, and validated only
// when their provider is the one selected.
func (o *Options) ProviderSettings() []Settings { return []Settings{awsSettings{o}} }

// awsSettings is the aws provider's group over Options.AWS.
type awsSettings struct{ o *Options }

func (s awsSettings) ApplyEnv(lookup LookupEnv) error { return s.o.AWS.ApplyEnv(lookup) }
func (s awsSettings) AddFlags(fs *flag.FlagSet)       { s.o.AWS.AddFlags(fs) }
func (s awsSettings) Validate() error {
	if s.o.CloudProvider != CloudProviderAWS {
		return nil
	}
	return s.o.AWS.Validate()
}
