"""Image-quality metrics: FID, KID and Kaggle's MiFID on FID Inception features."""

from cyclegan.metrics.cache import CachedFeatures, FeatureCache, content_key
from cyclegan.metrics.features import FeatureExtractor, extract_features
from cyclegan.metrics.fid import FeatureStats, FrechetTerms, frechet_distance, frechet_terms
from cyclegan.metrics.inception import InceptionFeatureExtractor, tf_bilinear_resize
from cyclegan.metrics.kid import kernel_inception_distance
from cyclegan.metrics.mifid import memorization_distance, mifid
from cyclegan.metrics.scores import Scores, compute_scores

__all__ = [
    "CachedFeatures",
    "FeatureCache",
    "FeatureExtractor",
    "FeatureStats",
    "FrechetTerms",
    "InceptionFeatureExtractor",
    "Scores",
    "compute_scores",
    "content_key",
    "extract_features",
    "frechet_distance",
    "frechet_terms",
    "kernel_inception_distance",
    "memorization_distance",
    "mifid",
    "tf_bilinear_resize",
]
