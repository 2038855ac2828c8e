"""Sensor profiles: published parameters composed from the models. Numbers and where they come from:

- kinect-v1 (PrimeSense structured light): 7.5 cm baseline, 57 deg HFOV, 640 px, 1/8 px disparity steps
  (Khoshelham & Elberink 2012, "Accuracy and resolution of Kinect depth data", Sensors; Konolige & Mihelich 2011);
  disparity std 1/16 px = their 0.5 normalized-disparity units, which gives ~4 cm at 5 m as they measured;
  range 0.8-4.0 m (Microsoft Kinect for Windows v1 default mode).
- kinect-v2 (time of flight): axial a + b z^2 fitted to Fankhauser et al. 2015 ("Kinect v2 for mobile robot
  navigation: evaluation and modeling", ICAR), sigma = 1.5 - 0.5 z + 0.3 z^2 mm at frontal incidence (1.3 mm at 1 m,
  4.3 mm at 4 m); mixed pixels at edges (same paper); range 0.5-4.5 m (Microsoft spec); mm output.
- realsense-d435i (active stereo): baseline 50 mm, depth HFOV 87 deg, 848 px, subpixel RMS 0.08 px, 126 px disparity
  search (min-Z ~0.18 m at 848 x 480) (Intel D400 datasheet; Intel "Tuning depth cameras for best performance");
  range to 10 m; z16 depth in mm.
- realsense-l515 (MEMS LiDAR): range 0.25-9 m; precision 2.5 mm (1 sigma) at 1 m to 15.5 mm at 9 m, fitted as
  a + b z^2 (Intel RealSense L515 datasheet); mixed pixels at edges; 0.25 mm depth unit.
- zed-2i (passive stereo): baseline 120 mm, depth HFOV 110 deg, 1280 px (HD720), range 0.3-20 m with the 2.1 mm
  lens (Stereolabs depth-settings docs); the datasheet's
  "< 1% up to 3 m, < 5% up to 15 m" both give subpixel std ~0.18 px through z^2 sigma_d / (f b) (Stereolabs ZED 2i
  datasheet); untextured planes partly missing.
- zed-x (passive stereo, GMSL2): baseline 120 mm, HFOV 110 deg, 1920 px (HD1200), range 0.2-20 m with the 2.2 mm
  lens (Stereolabs depth-settings docs), same accuracy statement, hence subpixel std ~0.27 px at the higher
  resolution (Stereolabs ZED X datasheet).
- clean: no noise.

Profiles are memoryless; add `+flicker(...)` for temporal effects.
"""

from __future__ import annotations

from depthbench.noise.registry import register_profile

register_profile("clean", "", summary="no noise: the simulator's depth as is", source="-")
register_profile(
    "kinect-v1",
    "kinect(disparity_std_px=0.0625)+range(min_m=0.8,max_m=4.0)",
    summary="Microsoft Kinect v1 / PrimeSense structured light",
    source="Khoshelham & Elberink 2012; Handa et al. 2014; Microsoft Kinect v1 spec",
)
register_profile(
    "kinect-v2",
    "axial(a_m=0.0011,b_per_m=0.0002)+edge(jump=0.05,p_invalid=0.5)+range(min_m=0.5,max_m=4.5)+quantize(step_m=0.001)",
    summary="Microsoft Kinect v2 time of flight",
    source="Fankhauser et al. 2015; Microsoft Kinect v2 spec",
)
register_profile(
    "realsense-d435i",
    "stereo(baseline_m=0.05,hfov_deg=87,native_width_px=848,subpixel_std_px=0.08,max_disparity_px=126)"
    "+range(min_m=0.1,max_m=10.0)+quantize(step_m=0.001)",
    summary="Intel RealSense D435i active IR stereo",
    source="Intel D400 datasheet; Intel D400 tuning whitepaper (subpixel 0.08)",
)
register_profile(
    "realsense-l515",
    "axial(a_m=0.00234,b_per_m=0.000163)+edge(jump=0.03,p_invalid=0.5)+range(min_m=0.25,max_m=9.0)"
    "+quantize(step_m=0.00025)",
    summary="Intel RealSense L515 MEMS LiDAR",
    source="Intel RealSense L515 datasheet",
)
register_profile(
    "zed-2i",
    "stereo(baseline_m=0.12,hfov_deg=110,native_width_px=1280,subpixel_std_px=0.18,max_disparity_px=512,"
    "textureless_p=0.05)+range(min_m=0.3,max_m=20.0)",
    summary="Stereolabs ZED 2i passive stereo",
    source="Stereolabs ZED 2i datasheet",
)
register_profile(
    "zed-x",
    "stereo(baseline_m=0.12,hfov_deg=110,native_width_px=1920,subpixel_std_px=0.27,max_disparity_px=768,"
    "textureless_p=0.05)+range(min_m=0.2,max_m=20.0)",
    summary="Stereolabs ZED X passive stereo (GMSL2)",
    source="Stereolabs ZED X datasheet",
)
