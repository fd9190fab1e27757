// What nneval and nnpredict print, kept apart from the engine: reading a model's
// outputs as classes (binary sigmoid or categorical softmax), several classes
// (multi-label sigmoids) or numbers (regression); the confusion matrix and
// per-class accuracy, the regression and multi-label statistics, the
// Keras-formatted and JSON reports, and the TSV / JSON-lines / batch-stream
// prediction output. Torch-free.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cli/io.hpp"
#include "nn/collective.hpp"
#include "nn/engine.hpp"
#include "stream/frame.hpp"

namespace imgpipe::nn {

// How a model's output row reads.
enum class OutputKind {
    Binary,       // one sigmoid unit, binary_crossentropy: p = P(class 1)
    Categorical,  // k >= 2 units, (sparse_)categorical_crossentropy
    MultiLabel,   // k >= 2 units, binary_crossentropy: p[c] = P(the image shows class c)
    Regression,   // a flat output [k] under any other loss (mse, mae, huber, ...): k numbers
    Values,       // anything else: images
    Segmentation, // [h,w,C] under sparse_categorical_crossentropy, dice or ce_dice, or [h,w,1] under
                  // binary_crossentropy for a model that knows its classes: a mask's class per pixel
};
// `has_classes`: the model knows class names (it trained on classes), which tells a one-channel
// sigmoid mask model from an image-to-image one under binary_crossentropy.
OutputKind output_kind(const std::string& loss, const std::vector<int64_t>& output_shape, bool has_classes = false);
// Number of classes the outputs stand for (2 for Binary, k for MultiLabel, C for Segmentation
// (2 for one sigmoid channel)), 0 otherwise.
int64_t class_count(OutputKind kind, const std::vector<int64_t>& output_shape);
// "a multi-label classifier (3 sigmoid units, binary_crossentropy)" and the like: messages.
std::string describe(OutputKind kind, const std::string& loss, const std::vector<int64_t>& output_shape);

// DataError naming `where` when the stream's class_mode says its targets are
// of another kind than the model was trained for: numbers (raw) for a
// classifier, several classes (multi_label) for a model of one class or of
// numbers, single labels (sparse) for a multi-label model. A stream that does
// not say is left to check_batch, as before.
void check_target_kind(OutputKind kind, const std::string& loss, const std::vector<int64_t>& output_shape,
                       const Frame& batch, const std::string& where);

// The model's class names when it knows them (and they fit), else "0", "1", ...
std::vector<std::string> class_names(const std::vector<std::string>& known, int64_t count);

// Evaluating on a stream whose classes are some of the model's, in any order
// (a test folder without one class): rewrites y's class indices (or a
// multi-hot y's columns) to the model's and the frame's "classes" to the
// model's list, as Keras matches by folder name. DataError naming `where` if a class of the stream is not the
// model's. A frame without class names, or with the model's, is left alone.
void align_classes(Frame& batch, const std::vector<std::string>& model_classes, const std::string& where);

// The k most probable classes of one output row, most probable first. Binary
// reads p as the pair (1-p, p) and predicts class 1 when p >= 0.5; categorical
// ties go to the lower index (numpy's argmax).
std::vector<std::pair<int, double>> top_classes(const float* row, int64_t width, OutputKind kind, int k);

// The true class of each sample of a target tensor: I32 or integral F32
// indices [n] or [n,1], or one-hot F32 [n,k]. Empty if y holds something else
// (an image, regression values). DataError on an index out of range.
std::vector<int> true_classes(const Tensor& y, int64_t classes, const std::string& where);

class ConfusionMatrix {
public:
    explicit ConfusionMatrix(std::vector<std::string> classes);
    void add(int truth, int predicted);
    // Adds a batch: model outputs [n, ...] against targets y.
    void add_batch(const Tensor& outputs, OutputKind kind, const std::vector<int>& truth);

    const std::vector<std::string>& classes() const { return classes_; }
    int64_t count(int truth, int predicted) const;
    int64_t total() const;
    int64_t correct() const;
    double accuracy() const;                 // NaN if empty
    int64_t class_total(int truth) const;    // samples whose true class is `truth`
    double class_accuracy(int truth) const;  // recall of that class; NaN without samples
    // The classes with no sample, and the line nneval warns with ("" when every class has one).
    std::vector<std::string> classes_without_samples() const;
    std::string absent_classes_note() const;

    // The counts, and back: to add them up over the ranks.
    std::vector<double> totals() const { return {counts_.begin(), counts_.end()}; }
    void set_totals(const std::vector<double>& totals);

    // Rows: true class; columns: predicted class, headed by class index.
    std::string text() const;

private:
    std::vector<std::string> classes_;
    std::vector<int64_t> counts_;  // row-major [truth][predicted]
};

// Each sample's weight: the stream's tensor w (F32 [n], finite, >= 0), or 1
// for every sample of a frame without it. DataError naming `where` otherwise.
std::vector<float> sample_weights(const Frame& batch, const std::string& where);

// The exact ROC AUC of scores against truth (1: positive), each pair weighted:
// the trapezoids under the curve through every distinct score, so tied
// scores count half (the Mann-Whitney U over P*N; scikit-learn's
// roc_auc_score). NaN without a positive or a negative.
double roc_auc(const std::vector<float>& scores, const std::vector<uint8_t>& truth, const std::vector<float>& weights);

// The rows an evaluation keeps of every sample: y, the outputs and the weight
// (the statistics below need all of them: R2's mean, AUC's ranks). Added up
// over the ranks by appending their bytes.
struct SampleRows {
    int64_t width = 0;
    std::vector<float> truth, predicted, weight;
    int64_t rows() const { return int64_t(weight.size()); }
    std::string bytes() const;
    void append_bytes(const std::string& bytes);
};

// A sample the model got most wrong: its largest |predicted - true| over the targets.
struct Residual {
    std::string path;
    int64_t target = 0;
    double truth = 0, predicted = 0;
    double residual() const { return predicted - truth; }
};

// Regression statistics, per target column and over all of them; each sample
// weighted by w (scikit-learn's sample_weight), 1 without it.
class RegressionReport {
public:
    struct Stats { double mae, rmse, r2; };
    explicit RegressionReport(size_t worst = 10) : keep_worst_(worst) {}
    // outputs [n, k] against y F32 [n, k] (or [n] when k = 1); the samples are
    // named by the frame's paths, else by their stream position (0-based).
    // The first frame names the targets (its "targets", else "0", "1", ...).
    void add_batch(const Frame& batch, const Tensor& outputs, int64_t position, const std::string& where);
    const std::vector<std::string>& targets() const { return targets_; }
    const SampleRows& rows() const { return rows_; }
    Stats column(int64_t c) const;
    // MAE and RMSE over every value (RMSE as Keras' RootMeanSquaredError),
    // R2 the mean of the columns' (Keras' R2Score and scikit-learn's "uniform_average").
    Stats overall() const;
    const std::vector<Residual>& worst() const { return worst_; }
    bool weighted() const { return weighted_; }
    std::string state() const;
    void merge(const std::string& state);  // another rank's state()
    std::string text() const;

private:
    void keep(Residual r);
    size_t keep_worst_;
    std::vector<std::string> targets_;
    SampleRows rows_;
    std::vector<Residual> worst_;  // largest |residual| first
    bool weighted_ = false;
};

// Multi-label statistics at a threshold (a class is predicted when its
// probability is above it, as Keras' metrics): per class precision, recall,
// F1 (NaN when 0/0), support (samples showing it) and the exact AUC; micro
// (from the summed counts, AUC over every score) and macro (the mean over
// classes, 0/0 counted as 0 as scikit-learn's zero_division=0; AUC over the
// classes that have one) averages. Counts weighted by w.
class MultiLabelReport {
public:
    struct Stats { double precision, recall, f1, auc; int64_t support; double tp, fp, fn; };
    MultiLabelReport() = default;
    MultiLabelReport(std::vector<std::string> classes, double threshold)
        : classes_(std::move(classes)), threshold_(threshold) {}
    // outputs [n, C] against a multi-hot y F32 [n, C] of 0 and 1.
    void add_batch(const Frame& batch, const Tensor& outputs, const std::string& where);
    const std::vector<std::string>& classes() const { return classes_; }
    double threshold() const { return threshold_; }
    const SampleRows& rows() const { return rows_; }
    Stats per_class(int64_t c) const;
    Stats micro() const;
    Stats macro() const;
    bool weighted() const { return weighted_; }
    // The line nneval warns with when no image shows some class ("" when every class is shown).
    std::string absent_classes_note() const;
    std::string state() const { return rows_.bytes() + (weighted_ ? "w" : "-"); }
    void merge(const std::string& state);
    std::string text() const;

private:
    std::vector<std::string> classes_;
    double threshold_ = 0.5;
    SampleRows rows_;
    bool weighted_ = false;
};

// Everything nneval reports.
struct Evaluation {
    Scores scores;               // loss and metrics, sample-weighted, as Keras
    bool classification = false;
    ConfusionMatrix confusion{{}};
    bool regression = false, multi_label = false;  // which report follows the scores
    bool segmentation = false;   // masks: `confusion` counts pixels (the ignore index left out)
    RegressionReport numbers;
    MultiLabelReport labels;
    OutputKind kind = OutputKind::Values;
    int64_t samples = 0, batches = 0;
    double seconds = 0;

    // The report for a model of `kind`: the confusion matrix under `classes`,
    // the multi-label statistics at `threshold`, or the regression statistics.
    void start(OutputKind kind, const std::vector<std::string>& classes, double threshold);
    // Whether the report needs the model's outputs (evaluate_batch's).
    bool wants_outputs() const { return classification || regression || multi_label || segmentation; }
    // Segmentation: class c's IoU, TP / (TP + FP + FN) of the pixel confusion (NaN when 0/0), and
    // their mean over the classes that have one (Keras' MeanIoU, without its epsilons).
    double iou(int c) const;
    double mean_iou() const;
    // One batch's outputs against its y; `position`: the stream position of its
    // first sample. Targets that are not what the report reads (an image, or
    // class labels under a regression loss) leave the scores alone.
    void add(const Frame& batch, const Tensor& outputs, int64_t position, const std::string& where);
    // What the statistics need of this rank, and another rank's added in.
    std::string state() const;
    void merge(const std::string& state);

    // The accuracy --min-accuracy tests: the "accuracy" metric, else the
    // confusion matrix's; NaN if neither exists.
    double accuracy() const;
    // "loss: 0.3012 - accuracy: 0.8914", then the confusion matrix and the
    // per-class accuracy, or the regression or multi-label statistics.
    std::string text() const;
    // One JSON object: loss and metrics as keys (Keras' return_dict), samples,
    // batches, seconds, and for classifiers classes, confusion_matrix,
    // per_class_accuracy; "regression" or "multi_label" with their statistics.
    std::string json() const;
};

// Stops reading a stream where Keras' evaluate/predict would: after `steps`
// batches when steps > 0, else at the end of the first epoch the frames'
// "epoch" metadata shows (an endless stream from imgprep --epochs 0 still ends).
class StepLimit {
public:
    explicit StepLimit(int64_t steps) : steps_(steps) {}
    // True if this frame belongs to the run (--steps batches, or else the
    // first epoch: began_epoch is the reader's FrameReader::began_epoch());
    // false: stop before it. Frames of no samples are not counted as batches.
    bool take(const Frame& frame, bool began_epoch);
    int64_t taken() const { return taken_; }
    // Expected number of batches, from --steps or the first frame's epoch_size; 0 if unknown.
    int64_t expected() const { return expected_; }
    // DataError if --steps asked for more batches than the stream held.
    void check_complete(const std::string& input) const;

private:
    int64_t steps_, taken_ = 0, expected_ = 0;
    int64_t epochs_ = 0;
};

// What nneval and nnpredict read: the stream's batches within the StepLimit,
// and in a data-parallel run this rank's part of them. A file every rank
// reads (the same frame layout everywhere) is shared: rank r takes batches r,
// r + N, r + 2N, ... (DistributedSampler's interleave, without its padding:
// every sample counts once). Any other input (a pipe, a shard of its own) is
// the rank's alone. Frames of no samples are passed over.
class EvalStream {
public:
    EvalStream(const std::string& path, int64_t steps, Collective& world);
    bool next(Frame& batch);
    // The stream position of the last batch's first sample (0-based).
    int64_t position() const { return position_ - last_rows_; }
    bool shared() const { return shared_; }
    // "FILE: shared by N ranks (rank 0 reads its batches 1, N+1, ...)" when shared, else "".
    std::string sharing() const;
    // Batches of the stream within the limit so far, every rank's, and the
    // count expected (0 if unknown): the progress bar.
    int64_t batches() const { return limit_.taken(); }
    int64_t expected() const { return limit_.expected(); }
    std::string where() const { return reader_.where(); }
    const std::string& name() const { return in_.name(); }
    // DataError if --steps asked for more batches than the stream held.
    void finish() const { limit_.check_complete(in_.name()); }

private:
    Input in_;
    FrameReader reader_;
    StepLimit limit_;
    int rank_ = 0, ranks_ = 1;
    bool shared_ = false, over_ = false;
    int64_t position_ = 0, last_rows_ = 0;
};

enum class PredictFormat { Tsv, Json, Stream };
bool parse_predict_format(const std::string& text, PredictFormat& out);

// Turns predict_batch outputs into nnpredict's output, in stream order.
class PredictionWriter {
public:
    // UsageError if the format cannot show this kind of output (images as text)
    // or top_k does not fit the classes. `threshold`: a multi-label model's
    // classes are those whose probability is above it.
    PredictionWriter(PredictFormat format, OutputKind kind, std::vector<int64_t> output_shape,
                     std::vector<std::string> classes, int top_k, double threshold = 0.5);
    // Text lines (tsv/json) for one batch; `input` supplies the paths (or, when
    // the stream carries none, samples are named by their 0-based stream position).
    std::string lines(const Frame& input, const Tensor& outputs);
    // Where the next batch stands in the stream (names samples without paths).
    void set_position(int64_t position) { position_ = position; }
    // The output frame (format stream): x = outputs (F32), the input's metadata carried, y dropped.
    Frame frame(const Frame& input, Tensor outputs) const;

private:
    PredictFormat format_;
    OutputKind kind_;
    std::vector<int64_t> output_shape_;
    std::vector<std::string> classes_;
    int top_k_;
    double threshold_;
    int64_t position_ = 0;
};

// A TSV field: backslash, tab, newline and carriage return escaped as \\ \t \n \r.
std::string tsv_field(const std::string& s);

}  // namespace imgpipe::nn
