"""Photogrammetry at the portal: georeferenced SfM, DSM, orthophoto and mesh on CPU.

``smartmine sfm INPUT --out DIR`` runs hloc-style stages (each ``run(conf, ..., out_dir)``
skips work already on disk): images -> features -> pairs -> matches -> sparse model ->
georeferencing -> dense cloud -> DSM/orthophoto/mesh -> report. See
:mod:`mapping.sfm.pipeline`.
"""
