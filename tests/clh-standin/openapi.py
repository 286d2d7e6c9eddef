"""Request and answer checks against Cloud Hypervisor's OpenAPI document.

Only what the document says is accepted: the path and method must be
listed, a body must match the schema named for it (required members,
types, integer formats and ranges, enums, string lengths), and members the
schema does not describe are refused unless it has additionalProperties.
"""

import yaml

BASE = "/api/v1"

INT_FORMATS = {
    "int8": (-(1 << 7), (1 << 7) - 1),
    "int16": (-(1 << 15), (1 << 15) - 1),
    "int32": (-(1 << 31), (1 << 31) - 1),
    "int64": (-(1 << 63), (1 << 63) - 1),
    "uint8": (0, (1 << 8) - 1),
    "uint16": (0, (1 << 16) - 1),
    "uint32": (0, (1 << 32) - 1),
    "uint64": (0, (1 << 64) - 1),
}


class Invalid(Exception):
    """A request the document does not allow; status is the HTTP answer."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class Document:
    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            self.doc = yaml.safe_load(f)
        self.paths = self.doc["paths"]
        self.schemas = self.doc["components"]["schemas"]

    def operation(self, method, url_path):
        """The operation of a request, or Invalid (404 unknown path, 405 method)."""
        if not url_path.startswith(BASE + "/"):
            raise Invalid(404, f"{url_path}: not below {BASE}")
        endpoint = url_path[len(BASE):]
        ops = self.paths.get(endpoint)
        if ops is None:
            raise Invalid(404, f"{endpoint}: no such endpoint in the API")
        op = ops.get(method.lower())
        if op is None:
            allowed = ", ".join(m.upper() for m in ops)
            raise Invalid(405, f"{endpoint}: method {method} not allowed (only {allowed})")
        return endpoint, op

    def request_schema(self, op):
        body = op.get("requestBody")
        if body is None:
            return None, False
        schema = body["content"]["application/json"]["schema"]
        return schema, bool(body.get("required", False))

    def check_request(self, method, url_path, body):
        """Checks a request; body is the parsed JSON or None when empty.
        Returns (endpoint, operation)."""
        endpoint, op = self.operation(method, url_path)
        schema, required = self.request_schema(op)
        if schema is None:
            if body is not None:
                raise Invalid(400, f"{endpoint} takes no request body")
            return endpoint, op
        if body is None:
            if required:
                raise Invalid(400, f"{endpoint} needs a request body ({self.ref_name(schema)})")
            return endpoint, op
        errors = []
        self.validate(body, schema, self.ref_name(schema), errors)
        if errors:
            raise Invalid(400, f"{endpoint}: body does not match {self.ref_name(schema)}: "
                          + "; ".join(errors[:5]))
        return endpoint, op

    def response_codes(self, op):
        return {int(code) for code in op.get("responses", {})}

    def check_response(self, op, endpoint, status, body):
        """The stand-in checks its own answers: a 2xx must be listed, with
        a body matching its schema."""
        responses = {int(k): v for k, v in op.get("responses", {}).items()}
        if status // 100 != 2:
            return
        if status not in responses:
            raise AssertionError(f"{endpoint}: {status} is not an answer the document lists")
        content = responses[status].get("content")
        if content is None:
            if body is not None:
                raise AssertionError(f"{endpoint}: {status} has no body in the document")
            return
        schema = content["application/json"]["schema"]
        errors = []
        self.validate(body, schema, self.ref_name(schema), errors)
        if errors:
            raise AssertionError(f"{endpoint}: answer does not match {self.ref_name(schema)}: "
                                 + "; ".join(errors[:5]))

    @staticmethod
    def ref_name(schema):
        ref = schema.get("$ref", "")
        return ref.rsplit("/", 1)[-1] if ref else schema.get("type", "value")

    def resolve(self, schema):
        while "$ref" in schema:
            ref = schema["$ref"]
            if not ref.startswith("#/components/schemas/"):
                raise ValueError(f"unsupported $ref {ref}")
            schema = self.schemas[ref.rsplit("/", 1)[-1]]
        return schema

    def validate(self, value, schema, where, errors):
        schema = self.resolve(schema)
        kind = schema.get("type")
        if "enum" in schema and value not in schema["enum"]:
            errors.append(f"{where}: {value!r} is not one of {schema['enum']}")
            return
        if kind == "object":
            self.validate_object(value, schema, where, errors)
        elif kind == "array":
            if not isinstance(value, list):
                errors.append(f"{where}: expected an array, got {type_name(value)}")
                return
            for i, item in enumerate(value):
                self.validate(item, schema.get("items", {}), f"{where}[{i}]", errors)
        elif kind == "string":
            if not isinstance(value, str):
                errors.append(f"{where}: expected a string, got {type_name(value)}")
            elif len(value) < schema.get("minLength", 0):
                errors.append(f"{where}: shorter than {schema['minLength']}")
        elif kind == "integer":
            self.validate_integer(value, schema, where, errors)
        elif kind == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                errors.append(f"{where}: expected a number, got {type_name(value)}")
        elif kind == "boolean":
            if not isinstance(value, bool):
                errors.append(f"{where}: expected a boolean, got {type_name(value)}")
        elif kind is None:
            pass
        else:
            errors.append(f"{where}: the document's type {kind!r} is unknown to the stand-in")

    def validate_object(self, value, schema, where, errors):
        if not isinstance(value, dict):
            errors.append(f"{where}: expected an object, got {type_name(value)}")
            return
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                errors.append(f"{where}: required member '{name}' is missing")
        extra = schema.get("additionalProperties")
        for name, member in value.items():
            if name in props:
                self.validate(member, props[name], f"{where}.{name}", errors)
            elif isinstance(extra, dict):
                self.validate(member, extra, f"{where}.{name}", errors)
            elif extra is True:
                pass
            else:
                errors.append(f"{where}: member '{name}' is not in the schema")

    def validate_integer(self, value, schema, where, errors):
        if isinstance(value, bool) or not isinstance(value, int):
            errors.append(f"{where}: expected an integer, got {type_name(value)}")
            return
        fmt = schema.get("format", "int64")
        low, high = INT_FORMATS.get(fmt, INT_FORMATS["int64"])
        if not low <= value <= high:
            errors.append(f"{where}: {value} does not fit {fmt}")
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{where}: {value} is below the minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{where}: {value} is above the maximum {schema['maximum']}")


def type_name(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
