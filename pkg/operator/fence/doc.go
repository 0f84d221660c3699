// Package fence keeps a replica that is not (or no longer) the leader from writing.
//
// Leader election only decides who should act; it does not stop a replica that was paused
// (a stopped process, a long GC pause, a frozen VM) past its lease from carrying on where
// it left off when it resumes: a reconcile in the middle of a cloud Create or a NodeClaim
// create would complete while another replica already leads. The Fence closes every write
// path on the lease instead:
//
//   - Lock wraps the leader election's resourcelock.Interface and records when this
//     replica last wrote the lease as its holder (the start of the request). Reading a
//     lease held by someone else, or writing one that names another holder (a release),
//     closes the fence at once. A release after a read that showed another holder is not
//     written: client-go's release on shutdown would otherwise blank the new leader's lease.
//   - Allow says whether the last renewal started less than the window ago. The window is
//     the renew deadline, shorter than the lease duration: another replica can only take
//     the lease a lease duration after it last saw this one renew, so the difference is the
//     margin left for a request in flight.
//   - Wrap refuses, in the HTTP transport of every Kubernetes client of the process,
//     POST, PUT, PATCH and DELETE while the fence is closed; reads pass.
//   - CloudProvider refuses Create and Delete, which go to the cloud's own API.
//   - AWSAPIOption, a middleware on every aws-sdk-go-v2 client of the AWS provider, refuses
//     every AWS operation that is not a read (Describe*, Get*, List*): launch templates,
//     instance profiles, tags, fleets, terminations, SQS receives and deletes. The refused
//     call is never signed or sent.
//
// The leader election's own client is never fenced: it must renew and acquire.
package fence
