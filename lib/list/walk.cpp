#include "list/walk.hpp"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "cli/error.hpp"
#include "cli/random.hpp"

namespace imgpipe {

const std::vector<std::string> kDefaultExtensions = {"png", "jpg",  "jpeg", "bmp",  "ppm", "pgm",
                                                     "pbm", "tif",  "tiff", "webp", "gif"};

namespace {

std::string join(const std::string& dir, const std::string& name) {
    if (dir.empty()) return name;
    return dir.back() == '/' ? dir + name : dir + "/" + name;
}

bool has_extension(const std::string& name, const std::vector<std::string>& extensions) {
    size_t dot = name.rfind('.');
    if (dot == std::string::npos || dot == 0) return false;
    std::string ext = name.substr(dot + 1);
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return std::find(extensions.begin(), extensions.end(), ext) != extensions.end();
}

struct DirEntries {
    std::vector<std::string> files, dirs;
};

// Lists one folder. Entries whose type needs stat() follow symlinks for files;
// folders reached through a symlink are reported separately in `linked`.
bool read_dir(const std::string& path, DirEntries& out, std::vector<std::string>* linked_dirs, bool hidden,
              const WalkWarning& warn) {
    DIR* dir = ::opendir(path.c_str());
    if (!dir) {
        warn(path, std::string("cannot read folder: ") + std::strerror(errno), true);
        return false;
    }
    while (struct dirent* e = ::readdir(dir)) {
        std::string name = e->d_name;
        if (name == "." || name == "..") continue;
        if (!hidden && name[0] == '.') continue;
        std::string full = join(path, name);
        struct stat st {}, lst {};
        if (::stat(full.c_str(), &st) != 0) {
            if (::lstat(full.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode)) warn(full, "dangling symbolic link, skipped", false);
            continue;  // deleted while listing: nothing to list
        }
        if (S_ISDIR(st.st_mode)) {
            bool is_link = ::lstat(full.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode);
            if (is_link && linked_dirs) linked_dirs->push_back(name);
            else out.dirs.push_back(name);
        } else if (S_ISREG(st.st_mode)) {
            out.files.push_back(name);
        }
    }
    ::closedir(dir);
    std::sort(out.files.begin(), out.files.end());
    std::sort(out.dirs.begin(), out.dirs.end());
    return true;
}

struct Walker {
    const WalkOptions& options;
    const WalkWarning& warn;
    std::set<std::pair<dev_t, ino_t>> visited;
    std::vector<std::pair<std::string, std::vector<std::string>>> folders;  // (folder, image names)

    void walk(const std::string& dir) {
        struct stat st {};
        if (::stat(dir.c_str(), &st) == 0 && !visited.insert({st.st_dev, st.st_ino}).second) {
            warn(dir, "symbolic link loop, skipped", false);
            return;
        }
        DirEntries entries;
        std::vector<std::string> linked;
        if (!read_dir(dir, entries, &linked, options.hidden, warn)) return;
        std::vector<std::string> images;
        for (const std::string& f : entries.files)
            if (has_extension(f, options.extensions)) images.push_back(f);
        folders.push_back({dir, std::move(images)});
        for (const std::string& d : entries.dirs) walk(join(dir, d));
        if (options.follow_links)
            for (const std::string& d : linked) walk(join(dir, d));
    }
};

}  // namespace

Listing walk_directory(const std::string& root, const WalkOptions& options, const WalkWarning& warn) {
    struct stat st {};
    if (::stat(root.c_str(), &st) != 0) throw NoInputError(root, std::string("cannot open: ") + std::strerror(errno));
    if (!S_ISDIR(st.st_mode)) throw NoInputError(root, "not a folder");
    DirEntries top;
    std::vector<std::string> linked;
    if (!read_dir(root, top, &linked, options.hidden, warn)) throw NoInputError(root, "cannot read folder");
    // Class folders may themselves be symbolic links, as in Keras.
    std::vector<std::string> subdirs = top.dirs;
    subdirs.insert(subdirs.end(), linked.begin(), linked.end());
    std::sort(subdirs.begin(), subdirs.end());

    Listing listing;
    std::vector<std::string> classes = options.classes;
    if (classes.empty()) classes = subdirs;
    // A named class without its folder stays a class with no images, as in
    // Keras (a test set that lacks one class keeps the training indices).
    std::vector<bool> missing(classes.size(), false);
    for (size_t c = 0; c < options.classes.size(); ++c)
        if (!std::binary_search(subdirs.begin(), subdirs.end(), options.classes[c])) {
            missing[c] = true;
            std::string here;
            for (const std::string& d : subdirs) here += (here.empty() ? "" : ", ") + d;
            warn(join(root, options.classes[c]),
                 "no such class folder: class " + std::to_string(c) + " \"" + options.classes[c] +
                     "\" is kept with no images (if that is a typo, the folders here are: " +
                     (here.empty() ? "none" : here) + ")",
                 false);
        }

    if (classes.empty()) {  // flat folder: its own images, unlabelled
        for (const std::string& f : top.files)
            if (has_extension(f, options.extensions)) {
                listing.entries.push_back(ListEntry::unlabelled(join(root, f)));
                listing.class_of.push_back(0);
            }
        return listing;
    }
    listing.classes = classes;
    for (size_t c = 0; c < classes.size(); ++c) {
        if (missing[c]) continue;
        Walker walker{options, warn, {}, {}};
        walker.walk(join(root, classes[c]));
        std::sort(walker.folders.begin(), walker.folders.end(),
                  [](const auto& a, const auto& b) { return a.first < b.first; });
        size_t before = listing.entries.size();
        for (const auto& [folder, images] : walker.folders)
            for (const std::string& f : images) {
                listing.entries.push_back(ListEntry::of_class(join(folder, f), int32_t(c), classes[c]));
                listing.class_of.push_back(c);
            }
        if (listing.entries.size() == before)
            warn(join(root, classes[c]), "class folder holds no images: class " + std::to_string(c) + " \"" +
                                             classes[c] + "\" is kept with none",
                 false);
    }
    return listing;
}

std::vector<std::string> walk_tree(const std::string& root, const WalkOptions& options, const WalkWarning& warn) {
    struct stat st {};
    if (::stat(root.c_str(), &st) != 0) throw NoInputError(root, std::string("cannot open: ") + std::strerror(errno));
    if (!S_ISDIR(st.st_mode)) throw NoInputError(root, "not a folder");
    Walker walker{options, warn, {}, {}};
    walker.walk(root);
    std::sort(walker.folders.begin(), walker.folders.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<std::string> paths;
    for (const auto& [folder, images] : walker.folders)
        for (const std::string& f : images) paths.push_back(join(folder, f));
    return paths;
}

std::vector<bool> split_head(const Listing& listing, double fraction) {
    size_t classes = std::max<size_t>(1, listing.classes.size());
    std::vector<size_t> count(classes, 0), seen(classes, 0);
    for (size_t c : listing.class_of) ++count[c];
    std::vector<bool> validation(listing.entries.size());
    for (size_t i = 0; i < validation.size(); ++i) {
        size_t c = listing.class_of[i];
        validation[i] = seen[c]++ < size_t(fraction * double(count[c]));
    }
    return validation;
}

std::vector<bool> split_hash(const Listing& listing, const std::string& root, double fraction, uint64_t seed) {
    std::vector<bool> validation(listing.entries.size());
    std::string prefix = root.empty() || root.back() == '/' ? root : root + "/";
    for (size_t i = 0; i < validation.size(); ++i) {
        std::string rel = listing.entries[i].path.substr(prefix.size());
        uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a, then mixed with the seed
        for (unsigned char ch : rel) h = (h ^ ch) * 0x100000001b3ull;
        double u = double(mix64(h ^ mix64(seed)) >> 11) * 0x1.0p-53;
        validation[i] = u < fraction;
    }
    return validation;
}

}  // namespace imgpipe
