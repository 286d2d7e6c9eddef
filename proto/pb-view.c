/* libvcproto: protobuf wire format read in place (see pb-view.h). */
#include "config.h"

#include "pb-view.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* A varint of at most max_bytes bytes (the high bits of a 10th byte are
 * dropped, as protobuf-c drops them). */
static bool
read_varint (const uint8_t **pos, const uint8_t *end, unsigned max_bytes, uint64_t *out)
{
  uint64_t v = 0;
  const uint8_t *p = *pos;
  for (unsigned i = 0; i < max_bytes; i++)
    {
      if (p == end)
        return false;
      uint8_t b = *p++;
      if (i < 10)
        v |= (uint64_t) (b & 0x7f) << (7 * i);
      if (!(b & 0x80))
        {
          *pos = p;
          *out = v;
          return true;
        }
    }
  return false;
}

/* The limits are protobuf-c's, so that both accept the same messages: a key
 * of at most 5 bytes whose first byte is not a zero field number, a length
 * of at most 5 bytes and INT_MAX, other varints of at most 10 bytes. */
int
vc_pb_next (VcPbReader *reader, VcPbField *field)
{
  const uint8_t *p = reader->pos;
  const uint8_t *end = reader->end;
  if (p == end)
    return 0;

  uint64_t key;
  if ((*p & 0xf8) == 0 || !read_varint (&p, end, 5, &key))
    return -1;
  field->number = (uint32_t) (key >> 3);
  field->wire = (VcPbWireType) (key & 7);
  field->value = 0;
  field->data = NULL;
  field->len = 0;

  switch (field->wire)
    {
    case VC_PB_WIRE_VARINT:
      if (!read_varint (&p, end, 10, &field->value))
        return -1;
      break;
    case VC_PB_WIRE_64BIT:
    case VC_PB_WIRE_32BIT:
      {
        size_t n = field->wire == VC_PB_WIRE_64BIT ? 8 : 4;
        if ((size_t) (end - p) < n)
          return -1;
        for (size_t i = 0; i < n; i++)
          field->value |= (uint64_t) p[i] << (8 * i);
        p += n;
        break;
      }
    case VC_PB_WIRE_LEN:
      {
        uint64_t len;
        if (!read_varint (&p, end, 5, &len) || len > INT_MAX || len > (uint64_t) (end - p))
          return -1;
        field->data = p;
        field->len = (size_t) len;
        p += len;
        break;
      }
    default:
      return -1;
    }
  reader->pos = p;
  return 1;
}

char *
vc_pb_strdup (const VcPbField *field)
{
  char *s = malloc (field->len + 1);
  if (s)
    {
      if (field->len)
        memcpy (s, field->data, field->len);
      s[field->len] = '\0';
    }
  return s;
}
