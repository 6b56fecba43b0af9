// Package iamcheck authorises the Google Cloud Storage, Pub/Sub and Cloud
// Run calls of a test's clients as IAM would: each client acts as one
// principal, a Policy holds who was granted which role on which resource
// (or on its project), and Roles says what a predefined role allows. The
// checks wrap the transports of the real clients talking to in-process
// servers (fake-gcs-server, pstest, a Cloud Run fake), so the code under
// test makes the same calls it makes in production, and a call without the
// permission fails as the service answers it. BigQuery's checks live in
// its fake (shared/warehouse/bqfake), which walks project grants, dataset
// access lists and table policies and asks RoleHas here what each role
// allows: Roles is the one table of predefined roles, for every service.
package iamcheck

import "strings"

// Roles are the permissions of the predefined roles the deployment, its
// operators and its tests grant. Source: Google Cloud IAM, "IAM roles and
// permissions index" (https://cloud.google.com/iam/docs/roles-permissions/storage,
// .../pubsub, .../run, .../iam, .../bigquery), the roles' permission lists,
// leaving out permissions of other services (resourcemanager.projects.get
// and the like) and of features not used here (folders, managed folders,
// snapshots, schemas, revisions; BigQuery's routines, models, connections,
// reservations). A role missing here grants nothing: add it from the docs
// rather than guess.
var Roles = map[string][]string{
	// BigQuery.
	"roles/bigquery.dataViewer": {
		"bigquery.datasets.get", "bigquery.datasets.getIamPolicy",
		"bigquery.tables.get", "bigquery.tables.getData", "bigquery.tables.getIamPolicy", "bigquery.tables.list",
		"bigquery.tables.createSnapshot", "bigquery.tables.export",
	},
	"roles/bigquery.dataEditor": {
		"bigquery.datasets.create", "bigquery.datasets.get", "bigquery.datasets.getIamPolicy",
		"bigquery.tables.create", "bigquery.tables.createSnapshot", "bigquery.tables.delete", "bigquery.tables.export",
		"bigquery.tables.get", "bigquery.tables.getData", "bigquery.tables.getIamPolicy", "bigquery.tables.list",
		"bigquery.tables.restoreSnapshot", "bigquery.tables.update", "bigquery.tables.updateData", "bigquery.tables.updateTag",
	},
	"roles/bigquery.dataOwner": {
		"bigquery.datasets.create", "bigquery.datasets.delete", "bigquery.datasets.get", "bigquery.datasets.getIamPolicy",
		"bigquery.datasets.setIamPolicy", "bigquery.datasets.update", "bigquery.datasets.updateTag",
		"bigquery.tables.create", "bigquery.tables.createSnapshot", "bigquery.tables.delete", "bigquery.tables.deleteSnapshot",
		"bigquery.tables.export", "bigquery.tables.get", "bigquery.tables.getData", "bigquery.tables.getIamPolicy",
		"bigquery.tables.list", "bigquery.tables.restoreSnapshot", "bigquery.tables.setCategory", "bigquery.tables.setIamPolicy",
		"bigquery.tables.update", "bigquery.tables.updateData", "bigquery.tables.updateTag",
	},
	"roles/bigquery.metadataViewer": {
		"bigquery.datasets.get", "bigquery.datasets.getIamPolicy", "bigquery.tables.get", "bigquery.tables.getIamPolicy", "bigquery.tables.list",
	},
	"roles/bigquery.user": {
		"bigquery.datasets.create", "bigquery.datasets.get", "bigquery.datasets.getIamPolicy",
		"bigquery.jobs.create", "bigquery.jobs.list", "bigquery.readsessions.create", "bigquery.tables.list",
	},
	"roles/bigquery.jobUser": {"bigquery.jobs.create"},
	"roles/bigquery.admin":   {"bigquery.*"},

	// Cloud Storage.
	"roles/storage.objectViewer":  {"storage.objects.get", "storage.objects.list"},
	"roles/storage.objectCreator": {"storage.objects.create", "storage.multipartUploads.create", "storage.multipartUploads.abort", "storage.multipartUploads.listParts"},
	"roles/storage.objectUser": {
		"storage.objects.create", "storage.objects.delete", "storage.objects.get", "storage.objects.list",
		"storage.objects.restore", "storage.objects.update",
		"storage.multipartUploads.abort", "storage.multipartUploads.create", "storage.multipartUploads.list", "storage.multipartUploads.listParts",
	},
	"roles/storage.objectAdmin": {
		"storage.objects.create", "storage.objects.delete", "storage.objects.get", "storage.objects.getIamPolicy", "storage.objects.list",
		"storage.objects.restore", "storage.objects.setIamPolicy", "storage.objects.setRetention", "storage.objects.update",
		"storage.multipartUploads.abort", "storage.multipartUploads.create", "storage.multipartUploads.list", "storage.multipartUploads.listParts",
	},
	// Legacy bucket roles: a reader may list a bucket's objects but not
	// read them (that is legacyObjectReader).
	"roles/storage.legacyBucketReader": {"storage.buckets.get", "storage.objects.list"},
	"roles/storage.legacyBucketWriter": {
		"storage.buckets.get", "storage.objects.create", "storage.objects.delete", "storage.objects.list", "storage.objects.restore",
		"storage.multipartUploads.abort", "storage.multipartUploads.create", "storage.multipartUploads.list", "storage.multipartUploads.listParts",
	},
	"roles/storage.legacyObjectReader": {"storage.objects.get"},
	"roles/storage.admin":              {"storage.*"},

	// Pub/Sub.
	"roles/pubsub.publisher":  {"pubsub.topics.publish"},
	"roles/pubsub.subscriber": {"pubsub.snapshots.seek", "pubsub.subscriptions.consume", "pubsub.topics.attachSubscription"},
	"roles/pubsub.viewer": {
		"pubsub.schemas.get", "pubsub.schemas.list", "pubsub.snapshots.get", "pubsub.snapshots.list",
		"pubsub.subscriptions.get", "pubsub.subscriptions.list", "pubsub.topics.get", "pubsub.topics.list",
	},
	"roles/pubsub.editor": {
		"pubsub.snapshots.create", "pubsub.snapshots.delete", "pubsub.snapshots.get", "pubsub.snapshots.list", "pubsub.snapshots.seek", "pubsub.snapshots.update",
		"pubsub.subscriptions.consume", "pubsub.subscriptions.create", "pubsub.subscriptions.delete", "pubsub.subscriptions.get", "pubsub.subscriptions.list", "pubsub.subscriptions.update",
		"pubsub.topics.attachSubscription", "pubsub.topics.create", "pubsub.topics.delete", "pubsub.topics.detachSubscription", "pubsub.topics.get", "pubsub.topics.list", "pubsub.topics.publish", "pubsub.topics.update",
	},
	"roles/pubsub.admin": {"pubsub.*"},

	// Cloud Run. run.invoker and the executor roles run a job but cannot
	// read it: Launcher.Running's jobs.get needs run.viewer or more.
	"roles/run.invoker":                   {"run.jobs.run", "run.routes.invoke"},
	"roles/run.servicesInvoker":           {"run.routes.invoke"},
	"roles/run.jobsExecutor":              {"run.executions.cancel", "run.jobs.run"},
	"roles/run.jobsExecutorWithOverrides": {"run.executions.cancel", "run.jobs.run", "run.jobs.runWithOverrides"},
	"roles/run.viewer": {
		"run.configurations.get", "run.configurations.list", "run.executions.get", "run.executions.list",
		"run.jobs.get", "run.jobs.getIamPolicy", "run.jobs.list", "run.locations.list", "run.operations.get", "run.operations.list",
		"run.revisions.get", "run.revisions.list", "run.routes.get", "run.routes.list",
		"run.services.get", "run.services.getIamPolicy", "run.services.list", "run.tasks.get", "run.tasks.list",
	},
	"roles/run.developer": {
		"run.configurations.get", "run.configurations.list",
		"run.executions.cancel", "run.executions.delete", "run.executions.get", "run.executions.list",
		"run.jobs.create", "run.jobs.delete", "run.jobs.get", "run.jobs.getIamPolicy", "run.jobs.list", "run.jobs.run", "run.jobs.runWithOverrides", "run.jobs.update",
		"run.locations.list", "run.operations.delete", "run.operations.get", "run.operations.list",
		"run.revisions.delete", "run.revisions.get", "run.revisions.list", "run.routes.get", "run.routes.invoke", "run.routes.list",
		"run.services.create", "run.services.delete", "run.services.get", "run.services.getIamPolicy", "run.services.list", "run.services.update",
		"run.tasks.get", "run.tasks.list",
	},
	"roles/run.admin": {"run.*"},

	// IAM, Eventarc, Secret Manager: the grants callers and agents need.
	"roles/iam.serviceAccountUser":         {"iam.serviceAccounts.actAs", "iam.serviceAccounts.get", "iam.serviceAccounts.list"},
	"roles/iam.serviceAccountTokenCreator": {"iam.serviceAccounts.get", "iam.serviceAccounts.getAccessToken", "iam.serviceAccounts.getOpenIdToken", "iam.serviceAccounts.implicitDelegation", "iam.serviceAccounts.list", "iam.serviceAccounts.signBlob", "iam.serviceAccounts.signJwt"},
	"roles/eventarc.eventReceiver":         {"eventarc.events.receiveAuditLogWrittenEvent", "eventarc.events.receiveEvent"},
	"roles/secretmanager.secretAccessor":   {"secretmanager.versions.access"},
}

// BasicDatasetRoles are the basic roles BigQuery keeps in a dataset's
// access list, and the predefined roles they stand for
// (https://cloud.google.com/bigquery/docs/access-control-basic-roles).
var BasicDatasetRoles = map[string]string{
	"READER": "roles/bigquery.dataViewer",
	"WRITER": "roles/bigquery.dataEditor",
	"OWNER":  "roles/bigquery.dataOwner",
}

// Permissions are the permissions of a predefined role (Roles), or of a
// basic dataset role through the role it stands for; ok is false for any
// other role (a custom one, or one missing from Roles).
func Permissions(role string) (perms []string, ok bool) {
	if r, basic := BasicDatasetRoles[role]; basic {
		role = r
	}
	perms, ok = Roles[role]
	return perms, ok
}

// RoleHas says whether role allows perm: a predefined or basic dataset
// role by Permissions, any other by custom (custom roles' permissions by
// name; nil when none are defined). "svc.*" allows every permission of
// svc, as roles/storage.admin and the like do.
func RoleHas(role, perm string, custom map[string][]string) bool {
	perms, ok := Permissions(role)
	if !ok {
		perms = custom[role]
	}
	for _, q := range perms {
		if q == perm || (strings.HasSuffix(q, ".*") && strings.HasPrefix(perm, strings.TrimSuffix(q, "*"))) {
			return true
		}
	}
	return false
}
