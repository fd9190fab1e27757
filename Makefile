# imgpipe: Unix tools for training image networks from data that does not fit in memory.
# Plain GNU make. `make -j2` builds every tool into bin/; `make test` runs every suite.
# Quiet by default (one line a file: `CXX lib/nn/spec.cpp`); `make V=1` prints full commands.

PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR   = $(DESTDIR)$(PREFIX)/bin
MANDIR   = $(DESTDIR)$(PREFIX)/share/man

CCACHE  := $(shell command -v ccache 2>/dev/null)
CXX     := $(CCACHE) g++
CXXFLAGS ?= -O2 -g
CXXFLAGS += -std=c++17 -Wall -Wextra -pthread
CPPFLAGS += -Ilib -MMD -MP
LDFLAGS  += -pthread -Wl,--as-needed

# Quiet build, as the Linux kernel's: $(call say,CXX,file) prints a short line and
# $(Q) hides the command; with V=1 the command is printed and the short line is not.
V ?= 0
ifeq ($(V),1)
Q   :=
say  =
else
Q   := @
say  = @printf '  %-4s %s\n' '$(1)' '$(2)'
endif

# Image libraries for the data tools (libvips, plus the fast JPEG and PNG paths; libdeflate for PNG masks).
IMAGE_PKGS   := vips-cpp libturbojpeg spng
# Their headers are system headers (-isystem): their warnings are not ours to fix.
# (The compiler's own directories are left out: -isystem would reorder them and break #include_next.)
IMAGE_CFLAGS := $(patsubst -I%,-isystem %,$(filter-out -I/usr/include -I/usr/include/%-linux-gnu,$(shell pkg-config --cflags $(IMAGE_PKGS) 2>/dev/null)))
IMAGE_LIBS   := $(shell pkg-config --libs $(IMAGE_PKGS) 2>/dev/null) -ldeflate
# libcsv (RFC 4180, streaming) reads imglist's tables (lib/list/table.cpp).
CSV_LIBS     := -lcsv
# libhdf5 (Keras .h5; Debian's serial build, with its hl image driver) and libzip
# (Keras 3 .keras) read Keras model files (lib/nn/keras_*.cpp).
KERAS_CFLAGS := $(patsubst -I%,-isystem %,$(shell pkg-config --cflags hdf5 2>/dev/null || echo -I/usr/include/hdf5/serial))
KERAS_LIBS   := $(shell pkg-config --libs hdf5 2>/dev/null || echo -L/usr/lib/x86_64-linux-gnu/hdf5/serial -lhdf5) -lhdf5_hl -lzip
# Debian's onnx 1.12 (its protobuf classes and checker) writes ONNX files: nnexport only.
ONNX_CFLAGS  := -DONNX_ML=1 -DONNX_NAMESPACE=onnx
ONNX_LIBS    := -lonnx -lonnx_proto -lprotobuf

# libtorch for the nn tools: Debian's libtorch-dev by default, or any libtorch
# tree (a CUDA build, say) with `make TORCH=/path/to/libtorch`.
ifdef TORCH
TORCH_CFLAGS := -isystem $(TORCH)/include -isystem $(TORCH)/include/torch/csrc/api/include -D_GLIBCXX_USE_CXX11_ABI=$(or $(TORCH_ABI),1)
TORCH_LIBS   := -L$(TORCH)/lib -Wl,-rpath,$(TORCH)/lib -Wl,--no-as-needed $(if $(wildcard $(TORCH)/lib/libtorch_cuda.so),-ltorch_cuda -lc10_cuda) -ltorch -ltorch_cpu -lc10 -Wl,--as-needed
else
TORCH_CFLAGS := -isystem /usr/include/torch/csrc/api/include
TORCH_LIBS   := -ltorch -ltorch_cpu -lc10
endif

BUILD := build
BIN   ?= bin
# lib/nn's torch-free Keras file readers go into the data library, which
# unit_tests links too (the nn tools link both).
KERAS_SRC    := $(wildcard lib/nn/keras_*.cpp)
# The writers of nnexport (lib/nn/export*.cpp) link into it alone, with the
# torch-free part of lib/nn they build on (SPEC_SRC: the spec and the layer
# table, as the spec fuzz target has them; and the Keras weights' mapping):
# nnexport links no libtorch and starts in milliseconds.
EXPORT_SRC   := $(wildcard lib/nn/export*.cpp)
SPEC_SRC     := $(addprefix lib/nn/,spec.cpp layers.cpp config.cpp compile.cpp expr.cpp)
DATA_LIB_SRC := $(filter-out lib/nn/%,$(wildcard lib/*/*.cpp)) $(KERAS_SRC)
NN_LIB_SRC   := $(filter-out $(KERAS_SRC) $(EXPORT_SRC),$(wildcard lib/nn/*.cpp))
NN_TOOLS     := $(filter nntrain nneval nnpredict,$(notdir $(basename $(wildcard tools/*.cpp))))
DATA_TOOLS   := $(sort $(filter-out $(NN_TOOLS) nnexport,$(notdir $(basename $(wildcard tools/*.cpp)))))
TOOLS        := $(DATA_TOOLS) $(NN_TOOLS) nnexport
UNIT_SRC     := $(wildcard tests/unit/*.cpp)
NN_TEST_SRC  := $(wildcard tests/nn/*.cpp)

obj = $(patsubst %.cpp,$(BUILD)/%.o,$(1))
DATA_LIB := $(BUILD)/libimgpipe.a
NN_LIB   := $(BUILD)/libimgpipe_nn.a

.PHONY: all deps node-deps test check install uninstall clean bench demo
all: $(addprefix $(BIN)/,$(TOOLS))

$(BUILD)/%.o: %.cpp
	@mkdir -p $(@D)
	$(call say,CXX,$<)
	$(Q)$(CXX) $(CPPFLAGS) $(IMAGE_CFLAGS) $(CXXFLAGS) -c $< -o $@

# Only lib/nn, the nn tools and their tests see torch headers.
$(BUILD)/lib/nn/%.o $(BUILD)/tests/nn/%.o: CPPFLAGS += $(TORCH_CFLAGS)
$(BUILD)/lib/nn/keras_%.o $(BUILD)/lib/nn/export%.o: CPPFLAGS += $(KERAS_CFLAGS)
$(BUILD)/lib/nn/export%.o: CPPFLAGS += $(ONNX_CFLAGS)
# c10d's process groups (lib/nn/collective.cpp): Gloo always, NCCL in a CUDA libtorch.
C10D_FLAGS := -DUSE_C10D_GLOO $(if $(and $(TORCH),$(wildcard $(TORCH)/lib/libtorch_cuda.so)),-DUSE_C10D_NCCL)
$(BUILD)/lib/nn/collective.o: CPPFLAGS += $(C10D_FLAGS)
# Our kernels split their work over threads with ATen's parallel_for, which is
# OpenMP in Debian's libtorch and serial in a file compiled without -fopenmp;
# the pooling's channel loops are written to be vectorized (-O3 does it), and
# Adam's loop too (a vector sqrt needs -fno-math-errno).
$(BUILD)/lib/nn/pool.o $(BUILD)/lib/nn/dense.o $(BUILD)/lib/nn/table.o $(BUILD)/lib/nn/optimizer.o: CXXFLAGS += -O3 -fopenmp -fno-math-errno

$(DATA_LIB): $(call obj,$(DATA_LIB_SRC))
	@rm -f $@
	$(call say,AR,$@)
	$(Q)ar rcs $@ $^
$(NN_LIB): $(call obj,$(NN_LIB_SRC))
	@rm -f $@
	$(call say,AR,$@)
	$(Q)ar rcs $@ $^

$(addprefix $(BIN)/,$(DATA_TOOLS)): $(BIN)/%: $(BUILD)/tools/%.o $(DATA_LIB)
	@mkdir -p $(BIN)
	$(call say,LD,$@)
	$(Q)$(CXX) $(LDFLAGS) $^ -o $@ $(IMAGE_LIBS) $(CSV_LIBS)
$(addprefix $(BIN)/,$(NN_TOOLS)): $(BIN)/%: $(BUILD)/tools/%.o $(NN_LIB) $(DATA_LIB)
	@mkdir -p $(BIN)
	$(call say,LD,$@)
	$(Q)$(CXX) $(LDFLAGS) -fopenmp $^ -o $@ $(TORCH_LIBS) $(IMAGE_LIBS) $(CSV_LIBS) $(KERAS_LIBS)
$(BIN)/nnexport: $(BUILD)/tools/nnexport.o $(call obj,$(EXPORT_SRC) $(SPEC_SRC) lib/nn/load_weights.cpp) $(DATA_LIB)
	@mkdir -p $(BIN)
	$(call say,LD,$@)
	$(Q)$(CXX) $(LDFLAGS) $^ -o $@ $(KERAS_LIBS) $(ONNX_LIBS)

$(BUILD)/unit_tests: $(call obj,$(UNIT_SRC)) $(DATA_LIB)
	$(call say,LD,$@)
	$(Q)$(CXX) $(LDFLAGS) $^ -o $@ $(IMAGE_LIBS) $(CSV_LIBS) $(KERAS_LIBS)
# (with the export writers: a test checks the ONNX writer's table against the engine's)
$(BUILD)/nn_tests: $(call obj,$(NN_TEST_SRC)) $(call obj,$(EXPORT_SRC)) $(NN_LIB) $(DATA_LIB)
	$(call say,LD,$@)
	$(Q)$(CXX) $(LDFLAGS) -fopenmp $^ -o $@ $(TORCH_LIBS) $(IMAGE_LIBS) $(CSV_LIBS) $(KERAS_LIBS) $(ONNX_LIBS)

# The Debian packages the project needs; installs only what is missing. The Python
# ones are the tests' independent references (numpy readers, Pillow, scipy, PyTorch
# parity, Keras' own flow_from_directory and, with pandas, flow_from_dataframe) and the sources
# of real test images (scikit-image's photos and faces). libcsv reads imglist's tables.
# Every other command the tests run is in a minimal Debian 12 (debootstrap --variant=minbase:
# coreutils, mawk, diffutils' cmp, util-linux's setpriv and flock, bsdutils' script) or comes
# with these (cc with g++, python3 with its modules), but jq: nneval(1)'s example reads its JSON with it,
# and nneval.sh checks that it does. A missing one fails the tests that need it, never skips them.
DEB_PACKAGES := g++ make pkg-config ccache libvips-dev libvips-tools libcli11-dev nlohmann-json3-dev catch2 libtorch-dev \
  libcsv-dev libhdf5-dev libzip-dev libturbojpeg0-dev libspng-dev libdeflate-dev dataset-fashion-mnist python3-numpy python3-pil python3-scipy python3-torch python3-skimage \
  python3-keras-preprocessing python3-pandas python3-h5py libgloo-dev openmpi-bin libopenblas0-pthread jq \
  libonnx-dev python3-onnx
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
BENCH_PACKAGES := python3-torch python3-torchvision python3-pil python3-skimage hyperfine time bc
deps:
	@missing=$$(for p in $(DEB_PACKAGES) $(EXTRA_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# The independent runtimes nnexport's files are checked against (tests/node/package.json,
# pinned by its lock): onnxruntime-node and @tensorflow/tfjs from the npm registry into
# tests/node/node_modules. --ignore-scripts: onnxruntime-node's install script only
# fetches GPU parts; its CPU library is in the package. Node and npm from Debian
# unless some node (with its npm) is already there.
node-deps:
	@command -v npm >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null; }
	@cmp -s tests/node/package-lock.json tests/node/node_modules/.installed-lock.json 2>/dev/null || \
	  { echo "installing: tests/node (npm ci)"; cd tests/node && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null && \
	    cp package-lock.json node_modules/.installed-lock.json; }

# Installs what is missing, builds, runs every suite; ends with "N passed, N failed".
test:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory node-deps
	@$(MAKE) --no-print-directory all $(BUILD)/unit_tests $(if $(NN_TEST_SRC),$(BUILD)/nn_tests)
	@BUILD_DIR=$(BUILD) BIN_DIR=$(BIN) tests/run

check: test

# The README's first command: Fashion-MNIST through the whole pipeline.
demo:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory -C examples/fashion-mnist

bench: all
	$(MAKE) deps EXTRA_PACKAGES="$(BENCH_PACKAGES)"
	bench/run

install: all
	install -d $(BINDIR) $(MANDIR)/man1 $(MANDIR)/man5
	install -m 755 $(addprefix $(BIN)/,$(TOOLS)) $(BINDIR)
	install -m 644 man/man1/*.1 $(MANDIR)/man1
	install -m 644 man/man5/*.5 $(MANDIR)/man5

uninstall:
	rm -f $(addprefix $(BINDIR)/,$(TOOLS))
	rm -f $(addprefix $(MANDIR)/man1/,$(notdir $(wildcard man/man1/*.1))) $(addprefix $(MANDIR)/man5/,$(notdir $(wildcard man/man5/*.5)))

clean:
	rm -rf $(BUILD) $(BIN)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# ASan + UBSan: every tool and test binary in build/sanitize (tools in
# build/sanitize/bin), then the whole test suite against them. Leak checks are
# off: libtorch and libvips keep global caches alive until exit by design.
# IMGPIPE_SANITIZE=1 lets a suite skip what ASan itself breaks (peak-RSS checks).
SANITIZE_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
SANITIZE_BUILD := build/sanitize
.PHONY: sanitize fuzz fuzz-targets
sanitize:
	@$(MAKE) --no-print-directory deps
	@CXXFLAGS="-O1 -g $(SANITIZE_FLAGS)" LDFLAGS="$(SANITIZE_FLAGS)" $(MAKE) --no-print-directory \
	  BUILD=$(SANITIZE_BUILD) BIN=$(SANITIZE_BUILD)/bin all $(SANITIZE_BUILD)/unit_tests $(if $(NN_TEST_SRC),$(SANITIZE_BUILD)/nn_tests)
	@BUILD_DIR=$(SANITIZE_BUILD) BIN_DIR=$(SANITIZE_BUILD)/bin IMGPIPE_SANITIZE=1 \
	  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:detect_odr_violation=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 tests/run

# libFuzzer targets (clang; Debian's libclang-rt-14-dev, installed by `make fuzz`
# itself, not by `make test`): `make fuzz` runs each for FUZZ_SECONDS from its seed
# corpus in tests/fuzz/corpus/ and fails on any finding; new inputs go to
# build/fuzz/corpus/, crashing inputs to tests/fuzz/crashes/. FUZZ_TARGETS="expr spec"
# runs only those; an input that runs longer than FUZZ_TIMEOUT seconds is a finding (a
# hang). CI (.ci/run) runs every target for 20 s after `make test`.
FUZZ_PACKAGES := clang libclang-rt-14-dev
FUZZ_CXX      ?= $(CCACHE) clang++
FUZZ_BUILD    := $(BUILD)/fuzz
FUZZ_SECONDS  ?= 60
FUZZ_TIMEOUT  ?= 30
FUZZ_CXXFLAGS := -std=c++17 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined -Ilib -MMD -MP
FUZZ_TARGETS  := frame_reader batch_feed list_line table spec expr model_file placement keras_h5 keras_zip tfjs_manifest keras_names mask_file
FUZZ_IO_SRC           := lib/cli/io.cpp $(wildcard lib/cli/error.cpp)
FUZZ_FRAME_SRC        := lib/stream/frame.cpp $(wildcard lib/stream/epoch.cpp)
FUZZ_SRC_frame_reader := $(FUZZ_FRAME_SRC) $(FUZZ_IO_SRC)
FUZZ_SRC_batch_feed   := lib/stream/feed.cpp lib/stream/batch.cpp $(FUZZ_FRAME_SRC) lib/cli/random.cpp $(FUZZ_IO_SRC)
FUZZ_SRC_list_line    := lib/list/list.cpp $(FUZZ_IO_SRC)
FUZZ_SRC_table        := lib/list/table.cpp lib/list/list.cpp $(FUZZ_IO_SRC)
FUZZ_LIBS_table       := $(CSV_LIBS)
FUZZ_SRC_spec         := $(SPEC_SRC) lib/nn/keras_names.cpp lib/cli/progress.cpp
FUZZ_SRC_expr         := lib/nn/expr.cpp
FUZZ_SRC_placement    := lib/nn/placement.cpp $(FUZZ_IO_SRC)
FUZZ_SRC_model_file   := $(NN_LIB_SRC) $(KERAS_SRC) $(FUZZ_FRAME_SRC) lib/stream/feed.cpp lib/stream/batch.cpp lib/cli/app.cpp lib/cli/progress.cpp lib/cli/random.cpp $(FUZZ_IO_SRC)
FUZZ_LIBS_model_file  := $(TORCH_LIBS) $(KERAS_LIBS)
# The Keras file readers (lib/nn/keras_*.cpp): HDF5 and zip glue in this
# process (the tools run it in a child), the TF.js manifest, Keras 3's names.
FUZZ_KERAS_SRC        := $(KERAS_SRC) $(FUZZ_IO_SRC)
FUZZ_SRC_keras_h5     := $(FUZZ_KERAS_SRC)
FUZZ_SRC_keras_zip    := $(FUZZ_KERAS_SRC)
FUZZ_SRC_tfjs_manifest := $(FUZZ_KERAS_SRC)
FUZZ_SRC_keras_names  := $(FUZZ_KERAS_SRC)
FUZZ_LIBS_keras_h5 = $(KERAS_LIBS)
FUZZ_LIBS_keras_zip = $(KERAS_LIBS)
FUZZ_LIBS_tfjs_manifest = $(KERAS_LIBS)
FUZZ_LIBS_keras_names = $(KERAS_LIBS)
# Segmentation masks (lib/image/label_map.cpp) and the image code they sit on.
FUZZ_SRC_mask_file    := $(wildcard lib/image/*.cpp) lib/cli/random.cpp $(FUZZ_IO_SRC)
FUZZ_LIBS_mask_file   := $(IMAGE_LIBS)

$(FUZZ_BUILD)/%.o: %.cpp
	@mkdir -p $(@D)
	$(call say,CXX,$< (fuzz))
	$(Q)$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@
$(FUZZ_BUILD)/lib/nn/%.o $(FUZZ_BUILD)/tests/fuzz/model_file.o: FUZZ_CXXFLAGS += $(TORCH_CFLAGS)
$(FUZZ_BUILD)/lib/nn/collective.o: FUZZ_CXXFLAGS += $(C10D_FLAGS)
$(FUZZ_BUILD)/lib/nn/keras_%.o: FUZZ_CXXFLAGS += $(KERAS_CFLAGS)
$(FUZZ_BUILD)/lib/image/%.o $(FUZZ_BUILD)/tests/fuzz/mask_file.o: FUZZ_CXXFLAGS += $(IMAGE_CFLAGS)

define fuzz_target
$(FUZZ_BUILD)/$(1): $(patsubst %.cpp,$(FUZZ_BUILD)/%.o,tests/fuzz/$(1).cpp $(FUZZ_SRC_$(1)))
	$$(call say,LD,$$@)
	$$(Q)$$(FUZZ_CXX) $$(FUZZ_CXXFLAGS) -fsanitize=fuzzer $$^ -o $$@ $(FUZZ_LIBS_$(1))
endef
$(foreach t,$(FUZZ_TARGETS),$(eval $(call fuzz_target,$(t))))

fuzz-targets: $(addprefix $(FUZZ_BUILD)/,$(FUZZ_TARGETS))
	@:
fuzz:
	@$(MAKE) --no-print-directory deps EXTRA_PACKAGES="$(FUZZ_PACKAGES)"
	@$(MAKE) --no-print-directory fuzz-targets
	@mkdir -p tests/fuzz/crashes; status=0; \
	for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$t; \
	  dict=$$(case $$t in expr) echo -dict=tests/fuzz/expr.dict;; list_line|table|placement|keras_h5|keras_zip|mask_file) ;; *) echo -dict=tests/fuzz/json.dict;; esac); \
	  if ASAN_OPTIONS=detect_leaks=0 $(FUZZ_BUILD)/$$t $$dict -max_total_time=$(FUZZ_SECONDS) -timeout=$(FUZZ_TIMEOUT) -rss_limit_mb=4096 \
	       -artifact_prefix=tests/fuzz/crashes/$$t- -print_final_stats=1 \
	       $(FUZZ_BUILD)/corpus/$$t tests/fuzz/corpus/$$t >$(FUZZ_BUILD)/$$t.log 2>&1; \
	  then echo "fuzz: $$t: $$(sed -n 's/^stat::number_of_executed_units: *//p' $(FUZZ_BUILD)/$$t.log) runs in $(FUZZ_SECONDS) s, no finding"; \
	  else tail -n 30 $(FUZZ_BUILD)/$$t.log; echo "fuzz: $$t: FINDING (see $(FUZZ_BUILD)/$$t.log)"; status=1; fi; \
	done; exit $$status
