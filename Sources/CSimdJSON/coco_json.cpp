// COCO instance files through simdjson's DOM API into the flat arrays of coco_json.h.
#include "coco_json.h"

#include <simdjson.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;

namespace {

struct Failure {
    int code;
    std::string message;
};

template <typename T> T *copy(const std::vector<T> &v) {
    T *p = static_cast<T *>(std::malloc(v.empty() ? 1 : v.size() * sizeof(T)));
    if (!v.empty()) std::memcpy(p, v.data(), v.size() * sizeof(T));
    return p;
}

const double absent = std::nan("");

/// A number (integer or floating point), NaN when the field is absent.
double number(object o, const char *key, const std::string &item) {
    auto field = o[key];
    if (field.error() == simdjson::NO_SUCH_FIELD) return absent;
    double value;
    if (field.error() || field.get_double().get(value)) {
        // Integers beyond what a double holds exactly still come back (as simdjson converts them).
        int64_t i;
        uint64_t u;
        if (!field.error() && !field.get_int64().get(i)) return double(i);
        if (!field.error() && !field.get_uint64().get(u)) return double(u);
        throw Failure{3, item + "." + key + ": must be a number"};
    }
    return value;
}

/// Appends the numbers of list `a` to `out`.
void numbers(array a, std::vector<double> &out, const std::string &item) {
    for (element e : a) {
        double v;
        if (e.get_double().get(v)) {
            int64_t i;
            if (e.get_int64().get(i)) throw Failure{3, item + ": must be a list of numbers"};
            v = double(i);
        }
        out.push_back(v);
    }
}

struct Reader {
    std::vector<double> image_id, image_height, image_width, category_id;
    std::vector<double> id, image, category, score, area, iscrowd, bbox, segmentation_size, values;
    std::vector<int32_t> bbox_length, segmentation_kind;
    std::vector<size_t> values_first, values_end, polygon_first, polygon_count, string_first, string_end, polygon_ends;
    std::vector<char> chars;
    bool with_segmentation = true;

    void objectEntry(object o, const std::string &item) {
        id.push_back(number(o, "id", item));
        image.push_back(number(o, "image_id", item));
        category.push_back(number(o, "category_id", item));
        score.push_back(number(o, "score", item));
        area.push_back(number(o, "area", item));
        iscrowd.push_back(number(o, "iscrowd", item));
        auto box = o["bbox"];
        if (box.error() == simdjson::NO_SUCH_FIELD) {
            bbox_length.push_back(-1);
            for (int k = 0; k < 4; k++) bbox.push_back(absent);
        } else {
            array a;
            if (box.get_array().get(a)) throw Failure{3, item + ".bbox: must be a list of numbers"};
            std::vector<double> v;
            numbers(a, v, item + ".bbox");
            bbox_length.push_back(int32_t(v.size()));
            for (int k = 0; k < 4; k++) bbox.push_back(k < int(v.size()) ? v[k] : absent);
        }
        int32_t kind = COCO_SEG_NONE;
        double h = absent, w = absent;
        values_first.push_back(values.size());
        polygon_first.push_back(polygon_ends.size());
        string_first.push_back(chars.size());
        auto seg = o["segmentation"];
        if (with_segmentation && seg.error() != simdjson::NO_SUCH_FIELD) {
            const std::string where = item + ".segmentation";
            element s;
            if (seg.get(s)) throw Failure{3, where + ": malformed"};
            array polygons;
            object rle;
            if (!s.get_array().get(polygons)) {
                kind = COCO_SEG_POLYGONS;
                for (element p : polygons) {
                    array coordinates;
                    if (p.get_array().get(coordinates)) throw Failure{3, where + ": polygons must be lists of numbers"};
                    numbers(coordinates, values, where);
                    polygon_ends.push_back(values.size());
                }
            } else if (!s.get_object().get(rle)) {
                array size;
                std::vector<double> sides;
                auto sizeField = rle["size"];
                if (sizeField.error() || sizeField.get_array().get(size)) throw Failure{3, where + ".size: must be [height, width]"};
                numbers(size, sides, where + ".size");
                if (sides.size() != 2) throw Failure{3, where + ".size: must be [height, width]"};
                h = sides[0];
                w = sides[1];
                auto counts = rle["counts"];
                std::string_view text;
                array list;
                if (counts.error()) throw Failure{3, where + ": no counts"};
                if (!counts.get_string().get(text)) {
                    kind = COCO_SEG_COMPRESSED;
                    chars.insert(chars.end(), text.begin(), text.end());
                } else if (!counts.get_array().get(list)) {
                    kind = COCO_SEG_UNCOMPRESSED;
                    numbers(list, values, where + ".counts");
                } else {
                    throw Failure{3, where + ".counts: must be a string or a list of numbers"};
                }
            } else {
                throw Failure{3, where + ": must be polygons or an RLE object"};
            }
        }
        segmentation_kind.push_back(kind);
        segmentation_size.push_back(h);
        segmentation_size.push_back(w);
        values_end.push_back(values.size());
        polygon_count.push_back(polygon_ends.size() - polygon_first.back());
        string_end.push_back(chars.size());
    }

    void objects(element list, const std::string &name) {
        array a;
        if (list.get_array().get(a)) throw Failure{3, (name.empty() ? std::string("top level") : name) + ": must be a list"};
        size_t i = 0;
        for (element e : a) {
            std::string item = name + "[" + std::to_string(i++) + "]";
            object o;
            if (e.get_object().get(o)) throw Failure{3, item + ": must be an object"};
            objectEntry(o, item);
        }
    }

    void groundTruth(element root) {
        object top;
        if (root.get_object().get(top)) throw Failure{3, "top level: must be an object with images, categories and annotations"};
        element images, categories, annotations;
        if (top["images"].get(images)) throw Failure{3, "top level: no \"images\""};
        if (top["categories"].get(categories)) throw Failure{3, "top level: no \"categories\""};
        array a;
        if (images.get_array().get(a)) throw Failure{3, "images: must be a list"};
        size_t i = 0;
        for (element e : a) {
            std::string item = "images[" + std::to_string(i++) + "]";
            object o;
            if (e.get_object().get(o)) throw Failure{3, item + ": must be an object"};
            image_id.push_back(number(o, "id", item));
            image_height.push_back(number(o, "height", item));
            image_width.push_back(number(o, "width", item));
        }
        if (categories.get_array().get(a)) throw Failure{3, "categories: must be a list"};
        i = 0;
        for (element e : a) {
            std::string item = "categories[" + std::to_string(i++) + "]";
            object o;
            if (e.get_object().get(o)) throw Failure{3, item + ": must be an object"};
            category_id.push_back(number(o, "id", item));
        }
        if (!top["annotations"].get(annotations) && !annotations.is_null()) objects(annotations, "annotations");
    }

    void fill(coco_json *out) const {
        out->image_count = image_id.size();
        out->image_id = copy(image_id);
        out->image_height = copy(image_height);
        out->image_width = copy(image_width);
        out->category_count = category_id.size();
        out->category_id = copy(category_id);
        out->object_count = image.size();
        out->id = copy(id);
        out->image = copy(image);
        out->category = copy(category);
        out->score = copy(score);
        out->area = copy(area);
        out->iscrowd = copy(iscrowd);
        out->bbox = copy(bbox);
        out->bbox_length = copy(bbox_length);
        out->segmentation_kind = copy(segmentation_kind);
        out->segmentation_size = copy(segmentation_size);
        out->values_first = copy(values_first);
        out->values_end = copy(values_end);
        out->polygon_first = copy(polygon_first);
        out->polygon_count = copy(polygon_count);
        out->string_first = copy(string_first);
        out->string_end = copy(string_end);
        out->values = copy(values);
        out->polygon_ends = copy(polygon_ends);
        out->chars = copy(chars);
    }
};

}  // namespace

extern "C" int coco_json_read(const char *path, int kind, int with_segmentation, coco_json *out, char *error, size_t error_size) {
    std::memset(out, 0, sizeof(*out));
    simdjson::dom::parser parser;
    simdjson::padded_string text;
    if (simdjson::padded_string::load(path).get(text)) {
        std::snprintf(error, error_size, "cannot read the file");
        return 1;
    }
    element root;
    if (parser.parse(text).get(root)) {
        std::snprintf(error, error_size, "malformed JSON");
        return 2;
    }
    Reader reader;
    reader.with_segmentation = with_segmentation != 0;
    try {
        object top;
        if (kind == 0) {
            reader.groundTruth(root);
            out->has_annotations = !root.get_object().get(top) && top["annotations"].error() == simdjson::SUCCESS;
        } else {
            reader.objects(root, "");
            out->has_annotations = 1;
        }
    } catch (const Failure &f) {
        std::snprintf(error, error_size, "%s", f.message.c_str());
        return f.code;
    } catch (const std::exception &e) {
        std::snprintf(error, error_size, "%s", e.what());
        return 3;
    }
    reader.fill(out);
    return 0;
}

extern "C" void coco_json_free(coco_json *j) {
    void *arrays[] = {j->image_id, j->image_height, j->image_width, j->category_id, j->id, j->image, j->category,
                      j->score, j->area, j->iscrowd, j->bbox, j->bbox_length, j->segmentation_kind, j->segmentation_size,
                      j->values_first, j->values_end, j->polygon_first, j->polygon_count, j->string_first, j->string_end,
                      j->values, j->polygon_ends, j->chars};
    for (void *p : arrays) std::free(p);
    std::memset(j, 0, sizeof(*j));
}
