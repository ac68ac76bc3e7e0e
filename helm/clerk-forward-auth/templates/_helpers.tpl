{{/* Chart name, truncated to the 63 characters a DNS label allows. */}}
{{- define "cfa.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: the release name, prefixed to the chart name unless it already contains it.
*/}}
{{- define "cfa.fullname" -}}
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

{{- define "cfa.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "cfa.labels" -}}
helm.sh/chart: {{ include "cfa.chart" . }}
{{ include "cfa.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels that select the pods; never change them after a release exists. */}}
{{- define "cfa.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cfa.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "cfa.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "cfa.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "cfa.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* Name of the Secret holding the Clerk keys: the user's, or the one this chart creates. */}}
{{- define "cfa.secretName" -}}
{{- default (include "cfa.fullname" .) .Values.existingSecret }}
{{- end }}

{{/* True ("true") when there is a policy to render into the ConfigMap. */}}
{{- define "cfa.hasPolicy" -}}
{{- if .Values.policy.rules }}true{{ end }}
{{- end }}

{{/* The policy file, exactly as the service reads it. */}}
{{- define "cfa.policyFile" -}}
{{ dict "rules" .Values.policy.rules | toYaml }}
{{- end }}

{{/* In-cluster base URL of the HTTP port. */}}
{{- define "cfa.serviceHost" -}}
{{- printf "%s.%s.svc" (include "cfa.fullname" .) .Release.Namespace }}
{{- end }}

{{- define "cfa.callbackPath" -}}
{{- default "/_auth/callback" .Values.config.callbackPath }}
{{- end }}

{{- define "cfa.webhookPath" -}}
{{- default "/_auth/webhooks/clerk" .Values.webhooks.path }}
{{- end }}

{{/* "true" when the pods may receive Clerk's webhooks: the chart holds the signing
secret, or existingSecret may (its key is read when present). */}}
{{- define "cfa.webhooksMayBeOn" -}}
{{- if or .Values.webhooks.signingSecret (and .Values.existingSecret .Values.secretKeys.webhookSigningSecret) }}true{{ end }}
{{- end }}

{{/* Where REDIS_URL comes from, "Secret <name>, key <key>"; empty when nowhere. */}}
{{- define "cfa.redisSource" -}}
{{- if .Values.redis.existingSecret }}
{{- printf "Secret %s, key %s" .Values.redis.existingSecret .Values.redis.existingSecretKey }}
{{- else if and .Values.existingSecret .Values.secretKeys.redisUrl }}
{{- printf "Secret %s, key %s (when present)" .Values.existingSecret .Values.secretKeys.redisUrl }}
{{- else if and (not .Values.existingSecret) .Values.redis.url }}
{{- printf "Secret %s, key %s" (include "cfa.fullname" .) .Values.secretKeys.redisUrl }}
{{- end }}
{{- end }}

{{/*
Refuse configurations that cannot start, with one line that names the value.
The schema checks shapes; this checks combinations.
*/}}
{{- define "cfa.validate" -}}
{{- if not .Values.existingSecret }}
{{- if not .Values.clerk.publishableKey }}
{{- fail "clerk.publishableKey is required (or set existingSecret to a Secret that holds it)" }}
{{- end }}
{{- if not (or .Values.clerk.secretKey .Values.clerk.jwtKey) }}
{{- fail "clerk.secretKey or clerk.jwtKey is required (or set existingSecret)" }}
{{- end }}
{{- if and .Values.clerk.secretKey (not .Values.secretKeys.secretKey) }}
{{- fail "secretKeys.secretKey is empty but clerk.secretKey is set" }}
{{- end }}
{{- if and .Values.clerk.jwtKey (not .Values.secretKeys.jwtKey) }}
{{- fail "secretKeys.jwtKey is empty but clerk.jwtKey is set" }}
{{- end }}
{{- if and .Values.clerk.machineSecretKey (not .Values.secretKeys.machineSecretKey) }}
{{- fail "secretKeys.machineSecretKey is empty but clerk.machineSecretKey is set" }}
{{- end }}
{{- if and .Values.redis.url (not .Values.redis.existingSecret) (not .Values.secretKeys.redisUrl) }}
{{- fail "secretKeys.redisUrl is empty but redis.url is set" }}
{{- end }}
{{- if and .Values.webhooks.signingSecret (not .Values.secretKeys.webhookSigningSecret) }}
{{- fail "secretKeys.webhookSigningSecret is empty but webhooks.signingSecret is set" }}
{{- end }}
{{- if and (eq .Values.sessionCheck.mode "always") (not .Values.clerk.secretKey) }}
{{- fail "sessionCheck.mode always needs clerk.secretKey (it asks the Backend API)" }}
{{- end }}
{{- else }}
{{- if and (not .Values.clerk.publishableKey) (not .Values.secretKeys.publishableKey) }}
{{- fail "clerk.publishableKey or secretKeys.publishableKey is required with existingSecret" }}
{{- end }}
{{- /* The chart creates no Secret: a secret value given here would be silently dropped. */}}
{{- if and .Values.redis.url (not .Values.redis.existingSecret) }}
{{- fail "redis.url is not stored with existingSecret: put the URL in that Secret (key secretKeys.redisUrl) or use redis.existingSecret" }}
{{- end }}
{{- if .Values.webhooks.signingSecret }}
{{- fail "webhooks.signingSecret is not stored with existingSecret: put it in that Secret (key secretKeys.webhookSigningSecret)" }}
{{- end }}
{{- end }}
{{- /* Checked here, not by the schema, whose error would print the URL and its password. */}}
{{- if and .Values.redis.url (not (regexMatch "^rediss?://[^/?#]+(/[0-9]*)?([?].*)?$" .Values.redis.url)) }}
{{- fail "redis.url must be redis://[user:password@]host:port[/db] or rediss://… (the value is not shown: it may carry a password)" }}
{{- end }}
{{- if and .Values.redis.url .Values.redis.existingSecret }}
{{- fail "set redis.url or redis.existingSecret, not both" }}
{{- end }}
{{- $webhookPath := include "cfa.webhookPath" . }}
{{- if or (eq $webhookPath (include "cfa.callbackPath" .)) (has $webhookPath (list "/forward-auth" "/auth-request" "/healthz" "/readyz" "/metrics" "/ext-authz")) (hasPrefix "/ext-authz/" $webhookPath) }}
{{- fail (printf "webhooks.path %s is taken by another of the service's routes" $webhookPath) }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.enabled) }}
{{- fail "metrics.serviceMonitor.enabled needs metrics.enabled" }}
{{- end }}
{{- if and .Values.metrics.enabled (eq (int .Values.metrics.port) 8080) }}
{{- fail "metrics.port must differ from the HTTP port 8080" }}
{{- end }}
{{- if and .Values.grpc.enabled (or (eq (int .Values.grpc.port) 8080) (and .Values.metrics.enabled (eq (int .Values.grpc.port) (int .Values.metrics.port)))) }}
{{- fail "grpc.port must differ from the HTTP and metrics ports" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (lt (int .Values.autoscaling.maxReplicas) (int .Values.autoscaling.minReplicas)) }}
{{- fail "autoscaling.maxReplicas must be >= autoscaling.minReplicas" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (not (dig "requests" "cpu" "" .Values.resources)) }}
{{- fail "autoscaling on CPU needs resources.requests.cpu" }}
{{- end }}
{{- /* The kubelet's sleep runs inside the grace period and SIGTERM comes after it: the API
server refuses a longer sleep, and one as long leaves the service no time to drain. */}}
{{- if and (gt (int .Values.preStopSleepSeconds) 0) (ge (int .Values.preStopSleepSeconds) (int .Values.terminationGracePeriodSeconds)) }}
{{- fail (printf "preStopSleepSeconds (%d) must be less than terminationGracePeriodSeconds (%d): the sleep is spent inside the grace period, before SIGTERM" (int .Values.preStopSleepSeconds) (int .Values.terminationGracePeriodSeconds)) }}
{{- end }}
{{- if and .Values.callbackIngress.enabled (not .Values.callbackIngress.hosts) }}
{{- fail "callbackIngress.hosts is required when callbackIngress.enabled" }}
{{- end }}
{{- end }}

{{/*
The Clerk instance's cookie suffix (traefik.middleware.cookieSuffix, else
derived from clerk.publishableKey as Clerk does: the first 8 characters of
the URL-safe base64 of the key's SHA-1; empty when the key is only in a
Secret). Sprig's sha1sum gives hex, so its first 12 digits (6 bytes) are
regrouped into 8 base64 characters, 24 bits at a time.
*/}}
{{- define "cfa.cookieSuffix" -}}
{{- if .Values.traefik.middleware.cookieSuffix -}}
{{- .Values.traefik.middleware.cookieSuffix -}}
{{- else if .Values.clerk.publishableKey -}}
{{- $hex := sha1sum .Values.clerk.publishableKey -}}
{{- $alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" -}}
{{- range $group := list 0 6 -}}
{{- $n := 0 -}}
{{- range $i := until 6 -}}
{{- $n = add (mul $n 16) (index (dict "0" 0 "1" 1 "2" 2 "3" 3 "4" 4 "5" 5 "6" 6 "7" 7 "8" 8 "9" 9 "a" 10 "b" 11 "c" 12 "d" 13 "e" 14 "f" 15) (substr (add $group $i | int) (add $group $i 1 | int) $hex)) -}}
{{- end -}}
{{- range $shift := list 262144 4096 64 1 -}}
{{- $c := mod (div $n $shift) 64 | int -}}
{{- substr $c (add $c 1 | int) $alphabet -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
