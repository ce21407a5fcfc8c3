{{/* Names, labels and the operator's RBAC rules, shared by every template. */}}

{{- define "loocv-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "loocv-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "loocv-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "loocv-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "loocv-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "loocv-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: loocv
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "loocv-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "loocv-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "loocv-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Every API call the operator makes, and nothing else. The same rules go into the ClusterRole
(watchNamespaces empty) or into a Role in each watched namespace. tests/chart checks them
against the calls in operator/loocv_operator/kube/kubeapi.py plus what kopf does.
Not granted, on purpose: get/delete on anything (the operator lists with a label selector;
Jobs and pods are deleted by the garbage collector through ownerReferences), Secrets (pods
get credentials from Secrets through the kubelet, the operator never reads them), CRDs and
Namespaces (kopf's scanning is disabled), kopf peering objects (the operator is standalone).
*/}}
{{- define "loocv-operator.rules" -}}
- apiGroups: ["loocv.dev"]
  resources: ["loocvruns"]
  # list + watch: kopf's watch stream of LOOCVRuns (a list, then a watch from its resourceVersion).
  # patch: kopf's bookkeeping in loocv.dev/* annotations and the loocv.dev/delete-results
  #        finalizer of runs with spec.storage.deleteOnDelete. The spec is never written.
  verbs: ["list", "watch", "patch"]
- apiGroups: ["loocv.dev"]
  resources: ["loocvruns/status"]
  # patch: progress, metrics, gate and conditions (a merge patch of the status subresource).
  verbs: ["patch"]
- apiGroups: ["loocv.dev"]
  resources: ["loocvruns/finalizers"]
  # update: the trainer Jobs' ownerReference to their run sets blockOwnerDeletion, which the
  #         OwnerReferencesPermissionEnforcement admission plugin allows only to whoever may
  #         update the owner's finalizers. Nothing ever calls this subresource itself.
  verbs: ["update"]
- apiGroups: ["batch"]
  resources: ["jobs"]
  # list: a run's Jobs, by the server-side selector loocv.dev/run-uid=<uid>, once per interval.
  # create: one Job per batch of folds (deterministic names: a 409 means it exists already).
  # patch: spec.suspend, when a run is suspended or resumed.
  # delete: a trainer Job whose pod was disrupted (preempted, evicted), once its batch is
  # resubmitted as a new Job, before the Job controller starts a pod after its backoff.
  verbs: ["list", "create", "patch", "delete"]
- apiGroups: [""]
  resources: ["pods"]
  # list: a run's trainer pods, by the same selector, to count preemptions and to report
  #       pods that cannot be scheduled.
  verbs: ["list"]
- apiGroups: [""]
  resources: ["events"]
  # create: Events on a run (Planned, Completed, GateFailed, ...) and kopf's warnings.
  verbs: ["create"]
- apiGroups: ["kueue.x-k8s.io"]
  resources: ["workloads"]
  # list: for runs with spec.execution.queueName, Kueue's Workloads in the run's namespace,
  #       to report Jobs awaiting admission, a missing LocalQueue and Kueue's preemptions.
  #       Harmless where Kueue is not installed (the operator then says so in the status).
  verbs: ["list"]
{{- end }}
