// COCO instance files (ground truth and results) read with simdjson into flat arrays for Swift:
// the JSON parsing of `train score instances` (Foundation's took most of its time).
#ifndef UNISEG_COCO_JSON_H
#define UNISEG_COCO_JSON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Segmentation kinds.
enum { COCO_SEG_NONE = 0, COCO_SEG_POLYGONS = 1, COCO_SEG_COMPRESSED = 2, COCO_SEG_UNCOMPRESSED = 3 };

/// What `coco_json_read` found. Numbers are doubles (integers converted exactly up to 2^53);
/// NaN marks a field that is absent. Arrays are owned by the struct (`coco_json_free`).
typedef struct {
    size_t image_count;
    double *image_id, *image_height, *image_width;
    size_t category_count;
    double *category_id;
    int has_annotations;
    /// Annotations (ground truth) or results, in file order.
    size_t object_count;
    double *id, *image, *category, *score, *area, *iscrowd;
    /// 4 numbers an object (NaN when absent); `bbox_length` the list's length, -1 when absent.
    double *bbox;
    int32_t *bbox_length;
    int32_t *segmentation_kind;
    /// RLE size (height, width), 2 numbers an object.
    double *segmentation_size;
    /// Polygons: polygons `polygon_first ..< polygon_first + polygon_count` of `polygon_ends`
    /// (each the end of its coordinates in `values`; a polygon starts where the previous ended,
    /// the first at `values_first`). Uncompressed counts: `values_first ..< values_end`.
    size_t *values_first, *values_end, *polygon_first, *polygon_count;
    /// Compressed counts: bytes `string_first ..< string_end` of `chars`.
    size_t *string_first, *string_end;
    double *values;
    size_t *polygon_ends;
    char *chars;
} coco_json;

/// `kind` 0: ground truth, an object with `images`, `categories` and optional `annotations`;
/// 1: results, a list of objects. `with_segmentation` 0 skips segmentations. Returns 0, or
/// 1 = the file cannot be read, 2 = not JSON, 3 = a value of the wrong type, with `error` =
/// the item and what is wrong (`annotations[3].bbox: must be a list of numbers`).
int coco_json_read(const char *path, int kind, int with_segmentation, coco_json *out, char *error, size_t error_size);
void coco_json_free(coco_json *json);

#ifdef __cplusplus
}
#endif

#endif
