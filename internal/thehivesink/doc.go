// Package thehivesink is a stand-in for TheHive 5's alert API, for tests
// on loopback: POST /api/v1/alert (JSON, or multipart/form-data with the
// alert as "_json" and each file observable's bytes in the part its
// "attachment" key names) and POST /api/v1/alert/{id}/observable
// (multipart: "_json" and "attachment"). It validates like TheHive: the
// "Authorization: Bearer <key>" header and, when set, X-Organisation;
// the alert's required fields (type, source, sourceRef, title,
// description, non-empty strings), the types of the others, severity
// 1-4, tlp 0-4, pap 0-3, unknown fields refused; each observable's
// dataType among TheHive's defaults, data for every type but file,
// attachment (a part present in the request) for file. A second alert
// with the same type, source and sourceRef is refused (400, TheHive's
// CreateError "already exists", or 409 with DuplicateStatus). Failure
// injection: FailNext answers 500s, SetDelay delays every answer.
package thehivesink
