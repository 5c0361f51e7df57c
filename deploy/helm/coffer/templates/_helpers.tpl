{{/* The chart's name, truncated to the 63 characters of a DNS label. */}}
{{- define "coffer.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's base name: every object's name starts with it. */}}
{{- define "coffer.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels of every object; call with (dict "ctx" $ "component" "server"). */}}
{{- define "coffer.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
{{ include "coffer.selectorLabels" . }}
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The labels that select a component's pods; they never change on upgrade. */}}
{{- define "coffer.selectorLabels" -}}
app.kubernetes.io/name: {{ include "coffer.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The image of every container, agents included. */}}
{{- define "coffer.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "coffer.server.serviceAccountName" -}}
{{- default (printf "%s-server" (include "coffer.fullname" .)) .Values.server.serviceAccount.name -}}
{{- end -}}
{{- define "coffer.injector.serviceAccountName" -}}
{{- default (printf "%s-injector" (include "coffer.fullname" .)) .Values.injector.serviceAccount.name -}}
{{- end -}}
{{- define "coffer.csi.serviceAccountName" -}}
{{- default (printf "%s-csi-provider" (include "coffer.fullname" .)) .Values.csi.serviceAccount.name -}}
{{- end -}}

{{/* The server's URL inside the cluster: its Service's DNS name, http in dev mode. */}}
{{- define "coffer.server.url" -}}
{{- $scheme := ternary "http" "https" (or .Values.server.dev.enabled (not .Values.server.tls.enabled)) -}}
{{- printf "%s://%s.%s.svc:%v" $scheme (include "coffer.fullname" .) .Release.Namespace .Values.server.service.port -}}
{{- end -}}

{{/* The injector's Service name (the webhook's certificate names it). */}}
{{- define "coffer.injector.serviceName" -}}
{{- printf "%s-injector" (include "coffer.fullname" .) -}}
{{- end -}}

{{- define "coffer.injector.tlsSecretName" -}}
{{- default (printf "%s-injector-tls" (include "coffer.fullname" .)) .Values.injector.tls.secretName -}}
{{- end -}}

{{/* The image pull secrets of a pod spec. */}}
{{- define "coffer.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
"true" when the server runs on raft with several replicas (server.ha), else empty. Fails on
a combination the chart cannot run.
*/}}
{{- define "coffer.server.ha" -}}
{{- $ha := .Values.server.ha -}}
{{- if or $ha.enabled $ha.raft.enabled -}}
{{- if .Values.server.dev.enabled -}}
{{- fail "server.ha runs on persistent raft storage: set server.dev.enabled=false (see values-production.yaml)" -}}
{{- end -}}
{{- if not (and $ha.enabled $ha.raft.enabled) -}}
{{- fail "server.ha.enabled and server.ha.raft.enabled go together: integrated raft is the HA storage the chart configures" -}}
{{- end -}}
{{- if .Values.server.apiAddr -}}
{{- fail "server.apiAddr is one server's URL; with server.ha every pod has its own: set server.ha.apiAddr (Kubernetes expands $(POD_NAME) in it), or leave it empty for the pod's name under the headless Service" -}}
{{- end -}}
{{- if lt (int $ha.replicas) 1 -}}
{{- fail "server.ha.replicas must be at least 1 (3 or 5 for a majority that survives losing a node)" -}}
{{- end -}}
true
{{- end -}}
{{- end -}}

{{/* The DNS name of server pod N under the headless Service; call with (list $ N). */}}
{{- define "coffer.server.podHost" -}}
{{- $ := index . 0 -}}
{{- $fullname := include "coffer.fullname" $ -}}
{{- printf "%s-server-%d.%s-internal.%s.svc" $fullname (int (index . 1)) $fullname $.Release.Namespace -}}
{{- end -}}

{{/* http or https: what the server's listener speaks. */}}
{{- define "coffer.server.scheme" -}}
{{- ternary "http" "https" (or .Values.server.dev.enabled (not .Values.server.tls.enabled)) -}}
{{- end -}}
