#include "list/pairs.hpp"

#include <map>

namespace imgpipe {

namespace {
// "root/a/b.jpg" -> "a/b": the path below root without its extension.
std::string relative_stem(const std::string& path, const std::string& root) {
    const std::string prefix = root.empty() || root.back() == '/' ? root : root + "/";
    return without_extension(path.rfind(prefix, 0) == 0 ? path.substr(prefix.size()) : path);
}

// stem -> paths with that stem, in walk order.
std::map<std::string, std::vector<std::string>> by_stem(const std::vector<std::string>& paths, const std::string& root) {
    std::map<std::string, std::vector<std::string>> out;
    for (const std::string& p : paths) out[relative_stem(p, root)].push_back(p);
    return out;
}
}  // namespace

MaskPairing pair_masks(const std::vector<std::string>& images, const std::string& image_root,
                       const std::vector<std::string>& masks, const std::string& mask_root) {
    MaskPairing out;
    const auto image_stems = by_stem(images, image_root);
    const auto mask_stems = by_stem(masks, mask_root);
    for (const std::string& image : images) {
        const std::string stem = relative_stem(image, image_root);
        const std::vector<std::string>& twins = image_stems.at(stem);
        auto found = mask_stems.find(stem);
        if (twins.size() > 1) {
            if (twins.front() == image)  // named once, at the first of them
                out.problems.push_back({image, "shares its name with " + twins[1] + (twins.size() > 2 ? " and others" : "") +
                                                   ": which image is " +
                                                   (found == mask_stems.end() ? "a mask" : found->second.front()) + " for?"});
        } else if (found == mask_stems.end()) {
            out.problems.push_back({image, "no mask (none named " + (mask_root.empty() || mask_root.back() == '/' ? mask_root : mask_root + "/") +
                                               stem + ".*)"});
        } else if (found->second.size() > 1) {
            out.problems.push_back({image, "two masks: " + found->second[0] + " and " + found->second[1]});
        } else {
            ListEntry e = ListEntry::unlabelled(image);
            e.kind = TargetKind::mask;
            e.mask = found->second.front();
            out.pairs.push_back(std::move(e));
        }
    }
    for (const auto& [stem, paths] : mask_stems)
        if (!image_stems.count(stem))
            for (const std::string& m : paths) out.problems.push_back({m, "a mask with no image"});
    return out;
}

}  // namespace imgpipe
