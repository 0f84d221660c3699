package nodeclass

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	awsv1 "github.com/gokarpenter/karpenter/pkg/apis/aws/v1"
	v1 "github.com/gokarpenter/karpenter/pkg/apis/v1"
	awsprovider "github.com/gokarpenter/karpenter/pkg/cloudprovider/aws"
)

// Name of the controller.
const Name = "ec2nodeclass"

// Refresh intervals: a Ready class is re-resolved every RefreshReady, a class that is not
// every RefreshNotReady.
const (
	RefreshReady    = 5 * time.Minute
	RefreshNotReady = 15 * time.Second
)

// Resolver is what the controller needs of the provider.
type Resolver interface {
	ResolveStatus(ctx context.Context, class *awsv1.EC2NodeClass) error
	DeleteLaunchTemplates(ctx context.Context, className string) (int, error)
	DeleteInstanceProfile(ctx context.Context, class *awsv1.EC2NodeClass) error
}

var _ Resolver = (*awsprovider.Provider)(nil)

// Deps build a Controller.
type Deps struct {
	Client   client.Client
	Resolver Resolver
	// Recorder receives events; nil discards them.
	Recorder record.EventRecorder
}

// Controller reconciles EC2NodeClasses.
type Controller struct {
	kube     client.Client
	resolver Resolver
	recorder record.EventRecorder
}

var _ reconcile.ObjectReconciler[*awsv1.EC2NodeClass] = (*Controller)(nil)

// NewController builds the controller.
func NewController(d Deps) *Controller {
	c := &Controller{kube: d.Client, resolver: d.Resolver, recorder: d.Recorder}
	if c.recorder == nil {
		c.recorder = &record.FakeRecorder{}
	}
	return c
}

// Name names the controller.
func (c *Controller) Name() string { return Name }

// Register watches EC2NodeClasses, and NodeClaims so a deleting class is finalized as
// soon as its last NodeClaim is gone.
func (c *Controller) Register(_ context.Context, mgr manager.Manager) error {
	err := builder.ControllerManagedBy(mgr).Named(Name).For(&awsv1.EC2NodeClass{}).
		Watches(&v1.NodeClaim{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			nc, ok := o.(*v1.NodeClaim)
			if !ok || nc.Spec.NodeClassRef == nil || nc.Spec.NodeClassRef.Kind != awsv1.KindEC2NodeClass {
				return nil
			}
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: nc.Spec.NodeClassRef.Name}}}
		})).
		Complete(reconcile.AsReconciler(mgr.GetClient(), c))
	if err != nil {
		return fmt.Errorf("registering %s: %w", Name, err)
	}
	return nil
}

// Reconcile resolves the class's status, or finalizes a deleting class.
func (c *Controller) Reconcile(ctx context.Context, class *awsv1.EC2NodeClass) (reconcile.Result, error) {
	ctx = log.IntoContext(ctx, log.FromContext(ctx).WithValues("EC2NodeClass", klog.KObj(class)))
	if !class.DeletionTimestamp.IsZero() {
		return c.finalize(ctx, class)
	}
	// Finalizer and hash first: they are metadata.
	stored := class.DeepCopy()
	controllerutil.AddFinalizer(class, awsv1.TerminationFinalizer)
	if class.Annotations == nil {
		class.Annotations = map[string]string{}
	}
	class.Annotations[awsv1.AnnotationNodeClassHash] = awsprovider.NodeClassHash(class)
	class.Annotations[awsv1.AnnotationNodeClassHashVersion] = awsprovider.NodeClassHashVersion
	if !equality.Semantic.DeepEqual(stored.ObjectMeta, class.ObjectMeta) {
		if err := c.kube.Patch(ctx, class, client.MergeFromWithOptions(stored, client.MergeFromWithOptimisticLock{})); err != nil {
			return reconcile.Result{}, client.IgnoreNotFound(fmt.Errorf("adding finalizer and hash: %w", err))
		}
	}
	stored = class.DeepCopy()
	resolveErr := c.resolver.ResolveStatus(ctx, class)
	if !equality.Semantic.DeepEqual(stored.Status, class.Status) {
		if err := c.kube.Status().Patch(ctx, class, client.MergeFrom(stored)); err != nil {
			return reconcile.Result{}, client.IgnoreNotFound(fmt.Errorf("patching status: %w", err))
		}
	}
	if resolveErr != nil {
		return reconcile.Result{}, resolveErr
	}
	if !class.IsReady() {
		return reconcile.Result{RequeueAfter: RefreshNotReady}, nil
	}
	return reconcile.Result{RequeueAfter: RefreshReady}, nil
}

// finalize waits for the class's NodeClaims to go, then deletes its launch templates and
// instance profile and removes the finalizer.
func (c *Controller) finalize(ctx context.Context, class *awsv1.EC2NodeClass) (reconcile.Result, error) {
	if !controllerutil.ContainsFinalizer(class, awsv1.TerminationFinalizer) {
		return reconcile.Result{}, nil
	}
	claims := &v1.NodeClaimList{}
	if err := c.kube.List(ctx, claims); err != nil {
		return reconcile.Result{}, fmt.Errorf("listing NodeClaims: %w", err)
	}
	for _, nc := range claims.Items {
		if ref := nc.Spec.NodeClassRef; ref != nil && ref.Kind == awsv1.KindEC2NodeClass && ref.Name == class.Name {
			log.FromContext(ctx).V(1).Info("waiting for NodeClaims before finalizing", "NodeClaim", nc.Name)
			return reconcile.Result{RequeueAfter: 10 * time.Second}, nil
		}
	}
	n, err := c.resolver.DeleteLaunchTemplates(ctx, class.Name)
	if err != nil {
		return reconcile.Result{}, err
	}
	if err := c.resolver.DeleteInstanceProfile(ctx, class); err != nil {
		return reconcile.Result{}, err
	}
	log.FromContext(ctx).Info("deleted the class's AWS resources", "launchTemplates", n)
	stored := class.DeepCopy()
	controllerutil.RemoveFinalizer(class, awsv1.TerminationFinalizer)
	if err := c.kube.Patch(ctx, class, client.MergeFromWithOptions(stored, client.MergeFromWithOptimisticLock{})); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(fmt.Errorf("removing finalizer: %w", err))
	}
	return reconcile.Result{}, nil
}
