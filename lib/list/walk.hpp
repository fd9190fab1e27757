// Finding images in a folder, as Keras' flow_from_directory does: class
// folders in byte order, a recursive walk sorted by folder path then file
// name, an extension allow-list; a folder with no class subfolders is listed
// flat and unlabelled (the lecture's glob('Face_Imagens/*.jpg')).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "list/list.hpp"

namespace imgpipe {

// The union of Keras' and torchvision's lists.
extern const std::vector<std::string> kDefaultExtensions;

struct WalkOptions {
    std::vector<std::string> classes;     // subset and order; empty: every subfolder, sorted
    std::vector<std::string> extensions;  // without the dot; compared case-insensitively
    bool follow_links = false;            // descend into symlinked folders below a class folder
    bool hidden = false;                  // keep names that start with '.'
};

struct Listing {
    std::vector<ListEntry> entries;
    std::vector<std::string> classes;  // empty for a flat folder
    std::vector<size_t> class_of;      // entries[i] belongs to class_of[i] (0 when flat)
};

// Problems that do not stop the walk go to warn(path, message, lost): lost is
// true when images may be missing from the listing (an unreadable subfolder),
// false for what is skipped by design (a symlink loop, a dangling link).
using WalkWarning = std::function<void(const std::string& path, const std::string& message, bool lost)>;
Listing walk_directory(const std::string& root, const WalkOptions& options, const WalkWarning& warn);

// Every image file under root, its own and its subfolders' (no class folders:
// segmentation pairs mirror the tree), sorted by folder then name.
std::vector<std::string> walk_tree(const std::string& root, const WalkOptions& options, const WalkWarning& warn);

// Keras' validation_split: the first int(fraction * n) files of each class
// (in walk order) are the validation subset. Returns true for validation members.
std::vector<bool> split_head(const Listing& listing, double fraction);
// A seeded hash of each path relative to root: membership stays put when the folder grows.
std::vector<bool> split_hash(const Listing& listing, const std::string& root, double fraction, uint64_t seed);

}  // namespace imgpipe
