#include "stream/frame.hpp"

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "cli/error.hpp"
#include "stream/epoch.hpp"

namespace imgpipe {

using nlohmann::json;

const char* const kStreamFormat = "batchstream/1";

namespace {
// Headers larger than this are not ours (a 100k-path batch header is ~10 MB).
constexpr uint64_t kMaxHeader = 256ull << 20;

uint64_t read_le64(const uint8_t* p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}
}  // namespace

uint64_t parse_frame_header(const char* text, size_t size, Frame& frame, const std::string& where, bool check_format) {
    if (size == 0 || text[0] != '{') throw DataError(where, "not a batch stream (header is not JSON)");
    json header = json::parse(text, text + size, nullptr, false);
    if (header.is_discarded() || !header.is_object())
        throw DataError(where, "not a batch stream (header is not a safetensors JSON header)");
    frame.tensors.clear();
    frame.metadata.clear();
    std::vector<std::pair<uint64_t, uint64_t>> spans;
    for (auto& [key, value] : header.items()) {
        if (key == "__metadata__") {
            if (!value.is_object()) throw DataError(where, "__metadata__ is not an object");
            for (auto& [mk, mv] : value.items()) {
                if (!mv.is_string()) throw DataError(where, "metadata \"" + mk + "\" is not a string");
                frame.metadata[mk] = mv.get<std::string>();
            }
            continue;
        }
        if (!value.is_object() || !value.contains("dtype") || !value.contains("shape") || !value.contains("data_offsets"))
            throw DataError(where, "tensor \"" + key + "\" lacks dtype, shape or data_offsets");
        Tensor t;
        t.name = key;
        if (!value["dtype"].is_string() || !parse_dtype(value["dtype"].get<std::string>(), t.dtype))
            throw DataError(where, "tensor \"" + key + "\": unsupported dtype " + value["dtype"].dump() +
                                       " (batch streams use U8, I32 or F32)");
        const json& shape = value["shape"];
        const json& offsets = value["data_offsets"];
        if (!shape.is_array() || !offsets.is_array() || offsets.size() != 2)
            throw DataError(where, "tensor \"" + key + "\": malformed shape or data_offsets");
        uint64_t count = 1;
        for (const json& d : shape) {
            if (!d.is_number_integer() || d.get<int64_t>() < 0)
                throw DataError(where, "tensor \"" + key + "\": malformed shape " + shape.dump());
            uint64_t dim = d.get<uint64_t>();
            if (dim && count > (uint64_t(1) << 40) / dim)
                throw DataError(where, "tensor \"" + key + "\": shape too large " + shape.dump());
            count *= dim;
            t.shape.push_back(int64_t(dim));
        }
        if (!offsets[0].is_number_unsigned() || !offsets[1].is_number_unsigned())
            throw DataError(where, "tensor \"" + key + "\": malformed data_offsets");
        uint64_t begin = offsets[0].get<uint64_t>(), end = offsets[1].get<uint64_t>();
        if (end < begin || end - begin != count * dtype_size(t.dtype))
            throw DataError(where, "tensor \"" + key + "\": data_offsets do not match shape " + shape_text(t.shape));
        spans.push_back({begin, end});
        frame.tensors.push_back(std::move(t));
    }
    // Tensors must tile the data buffer exactly, as safetensors requires.
    std::vector<size_t> order(spans.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return spans[a].first < spans[b].first; });
    uint64_t cursor = 0;
    std::vector<Tensor> sorted;
    for (size_t i : order) {
        if (spans[i].first != cursor) throw DataError(where, "tensor data overlaps or leaves gaps");
        cursor = spans[i].second;
        sorted.push_back(std::move(frame.tensors[i]));
    }
    frame.tensors = std::move(sorted);
    if (check_format) {
        auto it = frame.metadata.find("format");
        if (it == frame.metadata.end())
            throw DataError(where, "not a batch stream (safetensors without \"format\": \"batchstream/1\")");
        const std::string& f = it->second;
        if (f.rfind("imgpipe-model/", 0) == 0) throw DataError(where, "is a model file, not a batch stream");
        if (f.rfind("batchstream/", 0) != 0) throw DataError(where, "not a batch stream (format \"" + f + "\")");
        if (f != kStreamFormat)
            throw DataError(where, "stream format \"" + f + "\" is newer than this tool reads (" + kStreamFormat +
                                       "); upgrade imgpipe");
    }
    return cursor;
}

size_t dtype_size(DType t) { return t == DType::U8 ? 1 : 4; }

const char* dtype_name(DType t) {
    switch (t) {
        case DType::U8: return "U8";
        case DType::I32: return "I32";
        case DType::F32: return "F32";
    }
    return "?";
}

bool parse_dtype(const std::string& name, DType& out) {
    if (name == "U8") out = DType::U8;
    else if (name == "I32") out = DType::I32;
    else if (name == "F32") out = DType::F32;
    else return false;
    return true;
}

Tensor::Tensor(std::string n, DType t, std::vector<int64_t> s) : name(std::move(n)), dtype(t), shape(std::move(s)) {
    data.assign(size_t(elements()) * dtype_size(dtype), 0);
}

int64_t Tensor::elements() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

size_t Tensor::row_bytes() const {
    if (shape.empty()) return data.size();
    size_t n = dtype_size(dtype);
    for (size_t i = 1; i < shape.size(); ++i) n *= size_t(shape[i]);
    return n;
}

std::string shape_text(const std::vector<int64_t>& shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
    return s + "]";
}

Tensor* Frame::find(const std::string& name) {
    for (Tensor& t : tensors)
        if (t.name == name) return &t;
    return nullptr;
}

const Tensor* Frame::find(const std::string& name) const { return const_cast<Frame*>(this)->find(name); }

Tensor& Frame::get(const std::string& name) {
    Tensor* t = find(name);
    if (!t) throw DataError("", "frame has no tensor \"" + name + "\"");
    return *t;
}

const Tensor& Frame::get(const std::string& name) const { return const_cast<Frame*>(this)->get(name); }

int64_t Frame::samples() const {
    const Tensor* x = find("x");
    return x ? x->rows() : 0;
}

namespace {
void append_json_string(std::string& out, const std::string& s);
}

std::string json_list(const std::vector<std::string>& items) {
    // As json(items).dump(-1, ' ', false, replace), without the tree: invalid
    // UTF-8 in a path is replaced rather than refused, the path still joins back.
    std::string out = "[";
    for (const std::string& item : items) {
        if (out.size() > 1) out += ',';
        append_json_string(out, item);
    }
    return out + "]";
}

std::vector<std::string> parse_json_list(const std::string& text, const std::string& what) {
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_array()) throw DataError("", "metadata \"" + what + "\" is not a JSON list");
    std::vector<std::string> out;
    out.reserve(j.size());
    for (const json& item : j) {
        if (!item.is_string()) throw DataError("", "metadata \"" + what + "\" holds a non-string");
        out.push_back(item.get<std::string>());
    }
    return out;
}

std::vector<std::string> Frame::classes() const {
    auto it = metadata.find("classes");
    return it == metadata.end() ? std::vector<std::string>{} : parse_json_list(it->second, "classes");
}

void Frame::set_classes(const std::vector<std::string>& names) { metadata["classes"] = json_list(names); }

std::vector<std::string> Frame::paths() const {
    auto it = metadata.find("paths");
    return it == metadata.end() ? std::vector<std::string>{} : parse_json_list(it->second, "paths");
}

void Frame::set_paths(const std::vector<std::string>& paths) { metadata["paths"] = json_list(paths); }

int64_t Frame::meta_int(const std::string& key, int64_t fallback) const {
    auto it = metadata.find(key);
    if (it == metadata.end()) return fallback;
    try {
        size_t used = 0;
        long long v = std::stoll(it->second, &used);
        if (used == it->second.size()) return v;
    } catch (const std::exception&) {
    }
    throw DataError("", "metadata \"" + key + "\" is not an integer: \"" + it->second + "\"");
}

void Frame::set_meta_int(const std::string& key, int64_t value) { metadata[key] = std::to_string(value); }

namespace {
// A JSON string as nlohmann's dump(-1, ' ', false, replace) writes it: ASCII
// is escaped here, a string with any other byte goes to nlohmann (UTF-8 kept,
// invalid bytes replaced).
void append_json_string(std::string& out, const std::string& s) {
    const size_t mark = out.size();
    out += '"';
    size_t plain = 0;  // the start of the run of bytes that need no escape
    for (size_t i = 0; i < s.size(); ++i) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') continue;
        if (c >= 0x80) {
            out.resize(mark);
            out += json(s).dump(-1, ' ', false, json::error_handler_t::replace);
            return;
        }
        out.append(s, plain, i - plain);  // runs, not bytes: the header is most of imgprep's writing thread
        plain = i + 1;
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default: {
                char u[8];
                std::snprintf(u, sizeof u, "\\u%04x", unsigned(c));
                out += u;
            }
        }
    }
    out.append(s, plain, std::string::npos);
    out += '"';
}

// The safetensors header, padded to 8 bytes, exactly as building a json object
// and dump()ing it wrote it (keys in byte order, no spaces), written directly:
// with one sample a frame the json tree cost imgprep a third of its time on
// small images, in the one thread that writes the stream (lib/image/source.cpp).
std::string frame_header(const Frame& frame, uint64_t& data_size) {
    std::map<std::string, std::string> fields;  // key -> JSON value; a later key replaces, as json's operator[]
    uint64_t offset = 0;
    for (const Tensor& t : frame.tensors) {
        if (t.data.size() != size_t(t.elements()) * dtype_size(t.dtype))
            throw Error(kSoftware, "", "tensor \"" + t.name + "\" holds the wrong number of bytes");
        std::string v = "{\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + t.data.size()) +
                        "],\"dtype\":";
        append_json_string(v, dtype_name(t.dtype));
        v += ",\"shape\":[";
        for (size_t i = 0; i < t.shape.size(); ++i) v += (i ? "," : "") + std::to_string(t.shape[i]);
        v += "]}";
        fields[t.name] = std::move(v);
        offset += t.data.size();
    }
    if (!frame.metadata.empty()) {
        std::string v = "{";
        for (const auto& [key, value] : frame.metadata) {
            if (v.size() > 1) v += ',';
            append_json_string(v, key);
            v += ':';
            append_json_string(v, value);
        }
        fields["__metadata__"] = v + "}";
    }
    std::string text = "{";
    for (const auto& [key, value] : fields) {
        if (text.size() > 1) text += ',';
        append_json_string(text, key);
        text += ':';
        text += value;
    }
    text += '}';
    text.append((8 - text.size() % 8) % 8, ' ');  // safetensors aligns the data to 8 bytes
    data_size = offset;
    return text;
}

void put_le64(uint8_t* p, uint64_t n) {
    for (int i = 0; i < 8; ++i) p[i] = uint8_t(n >> (8 * i));
}
}  // namespace

std::vector<uint8_t> encode_frame(const Frame& frame) {
    uint64_t data_size = 0;
    const std::string text = frame_header(frame, data_size);
    std::vector<uint8_t> out(8 + text.size() + data_size);
    put_le64(out.data(), text.size());
    std::memcpy(out.data() + 8, text.data(), text.size());
    uint8_t* p = out.data() + 8 + text.size();
    for (const Tensor& t : frame.tensors) {
        if (!t.data.empty()) std::memcpy(p, t.data.data(), t.data.size());
        p += t.data.size();
    }
    return out;
}

void write_frame(Output& out, const Frame& frame) {
    uint64_t data_size = 0;
    const std::string text = frame_header(frame, data_size);
    uint8_t prefix[8];
    put_le64(prefix, text.size());
    out.write(prefix, 8);
    out.write(text);
    for (const Tensor& t : frame.tensors)
        if (!t.data.empty()) out.write(t.data.data(), t.data.size());
}

void FrameSource::skip(uint64_t n) {
    throw Error(kSoftware, "", "skip on a source of unknown size (" + std::to_string(n) + " bytes)");
}

size_t MemorySource::read(void* dst, size_t n) {
    n = std::min(n, left_);
    if (n) std::memcpy(dst, p_, n);
    p_ += n;
    left_ -= n;
    return n;
}

void MemorySource::skip(uint64_t n) {
    n = std::min<uint64_t>(n, left_);
    p_ += n;
    left_ -= size_t(n);
}

size_t FileSource::read(void* dst, size_t n) {
    n = size_t(std::min<uint64_t>(n, remaining()));
    char* p = static_cast<char*>(dst);
    size_t done = 0;
    while (done < n) {
        ssize_t got = ::pread(fd_, p + done, n - done, off_t(offset_));
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) throw IoError(name_, std::string("read failed: ") + std::strerror(errno));
        if (got == 0) break;  // the file shrank under us: the caller says truncated
        done += size_t(got);
        offset_ += uint64_t(got);
    }
    return done;
}

namespace {
// Reads `want` bytes into buf from its size `have` on, growing the buffer as
// the bytes arrive (doubling from `first`), so that a length promising
// gigabytes ends as a truncated frame, not an allocation. Returns the bytes read.
size_t read_growing(FrameSource& src, std::vector<uint8_t>& buf, size_t want, size_t first) {
    size_t have = 0;
    while (have < want) {
        size_t step = std::min(want - have, std::max(have, first));
        buf.resize(have + step);
        size_t got = src.read(buf.data() + have, step);
        have += got;
        if (got < step) break;
    }
    buf.resize(have);
    return have;
}

std::string of(uint64_t have, uint64_t want) { return std::to_string(have) + " of " + std::to_string(want) + " bytes"; }
}  // namespace

bool read_frame(FrameSource& src, Frame& frame, std::vector<uint8_t>& header, const std::string& where,
                bool check_format, bool read_data) {
    uint8_t prefix[8];
    size_t got = src.read(prefix, 8);
    if (got == 0) return false;
    if (got < 8) throw DataError(where, "truncated frame (" + std::to_string(got) + " of 8 length bytes)");
    // Built only on failure: every frame of a stream passes here.
    auto foreign = [&] { return DataError(where, "not safetensors (starts with '" + printable_start(prefix, 8) + "')"); };
    uint64_t n = read_le64(prefix);
    if (n < 2 || n > kMaxHeader) throw foreign();
    size_t have = read_growing(src, header, size_t(n), size_t(64) << 10);
    if (have < n) {
        // Bytes that cannot begin a JSON header: a foreign file whose first 8
        // bytes happen to read as a small length, not a cut frame.
        if (have > 0 && header[0] != '{') throw foreign();
        throw DataError(where, "truncated frame (header: " + of(have, n) + ")");
    }
    uint64_t data_size = parse_frame_header(reinterpret_cast<const char*>(header.data()), n, frame, where, check_format);
    // A source that knows its size says so before reading anything.
    uint64_t left = src.remaining();
    if (left != FrameSource::kUnknown && data_size > left)
        throw DataError(where, "truncated frame (data: " + of(left, data_size) + ")");
    if (!read_data) {
        src.skip(data_size);
        return true;
    }
    uint64_t total = 0;
    for (Tensor& t : frame.tensors) {
        size_t want = size_t(t.elements()) * dtype_size(t.dtype);
        size_t got_here = read_growing(src, t.data, want, size_t(64) << 20);
        total += got_here;
        if (got_here < want) throw DataError(where, "truncated frame (data: " + of(total, data_size) + ")");
    }
    return true;
}

Frame decode_frame(const uint8_t* data, size_t size, const std::string& where,
                   const std::function<void(const Frame&)>& check) {
    MemorySource src(data, size);
    Frame frame;
    std::vector<uint8_t> header;
    if (!read_frame(src, frame, header, where, false))
        throw DataError(where, "truncated frame (0 of 8 length bytes)");
    if (check) check(frame);
    if (src.remaining() > 0) throw DataError(where, std::to_string(src.remaining()) + " trailing bytes after the frame");
    return frame;
}

std::string FrameReader::where() const { return in_.name() + ": frame " + std::to_string(frames_); }

bool FrameReader::read(Frame& frame) {
    InputSource src(in_);
    ++frames_;  // where() names the frame being read
    if (!read_frame(src, frame, header_, where(), check_format_)) {
        --frames_;
        ledger_.finish(in_.name());
        return false;
    }
    began_epoch_ = ledger_.add(frame, where());
    note_skipped_upstream(ledger_.skipped_in_frame());
    return true;
}

void FrameReader::rewind() {
    in_.rewind();
    frames_ = 0;
    ledger_ = EpochLedger();
}

}  // namespace imgpipe
