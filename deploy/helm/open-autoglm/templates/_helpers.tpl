{{- define "open-autoglm.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "open-autoglm.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "open-autoglm.labels" -}}
{{ include "open-autoglm.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "open-autoglm.redisHost" -}}
{{- if .Values.redis.enabled -}}
{{- printf "%s-redis" (include "open-autoglm.fullname" .) -}}
{{- else -}}
{{- .Values.redis.host -}}
{{- end -}}
{{- end -}}
