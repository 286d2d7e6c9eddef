/* libvcproto: reading protobuf wire format in place, without copies.
 *
 * protobuf-c copies every bytes field when it unpacks. On the guest's side of
 * a stdin transfer that is two extra passes over each MiB under emulation
 * (the ttrpc.Request's payload, then WriteStreamRequest's data), so the
 * envelope and WriteStdin are read with this walker instead: fields point
 * into the buffer they came in. It checks the wire format as protobuf-c does
 * (known wire types, its limits on keys, lengths and varints, lengths inside
 * the buffer) but knows no schema: callers check each field's wire type. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  VC_PB_WIRE_VARINT = 0,
  VC_PB_WIRE_64BIT = 1,
  VC_PB_WIRE_LEN = 2,
  VC_PB_WIRE_32BIT = 5,
} VcPbWireType;

typedef struct {
  uint32_t number;        /* the field number (0 only from a multi-byte key, as protobuf-c reads it) */
  VcPbWireType wire;
  uint64_t value;         /* VARINT, 64BIT and 32BIT: the value */
  const uint8_t *data;    /* LEN: the bytes, inside the walked buffer */
  size_t len;             /* LEN: their count */
} VcPbField;

typedef struct {
  const uint8_t *pos;
  const uint8_t *end;
} VcPbReader;

static inline void
vc_pb_reader_init (VcPbReader *reader, const uint8_t *data, size_t len)
{
  reader->pos = data;
  reader->end = data ? data + len : data;
}

/* The next field: 1 with *field set, 0 at the end of the buffer, -1 when the
 * wire format is broken (the reader then stays where it was). Groups (wire
 * types 3 and 4) are refused, as protobuf-c refuses them. */
int vc_pb_next (VcPbReader *reader, VcPbField *field);

/* A LEN field's bytes as a malloc()ed C string (NULL when out of memory).
 * A NUL inside cuts it short for C readers, as with protobuf-c. */
char *vc_pb_strdup (const VcPbField *field);


#ifdef __cplusplus
}
#endif
