# Plots of `signopt report`; rerun with: cd docs/results/mlp-replication/plots && gnuplot plots.gp
set terminal pngcairo size 1000,620 font ',10'
set output 'fashion-mnist-test-accuracy.png'

# fashion-mnist: test accuracy per epoch (mean over seeds, band: min..max)
reset
set termoption noenhanced
set title 'fashion-mnist: test accuracy per epoch (mean over seeds, band: min..max)'
set xlabel 'epoch'
set ylabel 'test accuracy (%)'
set grid
set key bottom right box opaque
set xtics 1
plot 'fashion-mnist-test-accuracy.dat' index 0 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 1 notitle, \
     'fashion-mnist-test-accuracy.dat' index 0 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 1 title 'sgd', \
     'fashion-mnist-test-accuracy.dat' index 1 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 2 notitle, \
     'fashion-mnist-test-accuracy.dat' index 1 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 2 title 'signum', \
     'fashion-mnist-test-accuracy.dat' index 2 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 3 notitle, \
     'fashion-mnist-test-accuracy.dat' index 2 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 3 title 'dithered-signum', \
     'fashion-mnist-test-accuracy.dat' index 3 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 4 notitle, \
     'fashion-mnist-test-accuracy.dat' index 3 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 4 title 'hybrid switch-step=473', \
     'fashion-mnist-test-accuracy.dat' index 4 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 5 notitle, \
     'fashion-mnist-test-accuracy.dat' index 4 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 5 title 'hybrid switch-step=945', \
     'fashion-mnist-test-accuracy.dat' index 5 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 6 notitle, \
     'fashion-mnist-test-accuracy.dat' index 5 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 6 title 'hybrid switch-step=1418'
set terminal svg size 1000,620 dynamic font ',10'
set output 'fashion-mnist-test-accuracy.svg'
replot
unset output
set terminal pngcairo size 1000,620 font ',10'
set output 'fashion-mnist-train-loss.png'

# fashion-mnist: training loss per epoch (mean over seeds, band: min..max)
reset
set termoption noenhanced
set title 'fashion-mnist: training loss per epoch (mean over seeds, band: min..max)'
set xlabel 'epoch'
set ylabel 'training loss (epoch mean)'
set grid
set key top right box opaque
set xtics 1
plot 'fashion-mnist-train-loss.dat' index 0 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 1 notitle, \
     'fashion-mnist-train-loss.dat' index 0 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 1 title 'sgd', \
     'fashion-mnist-train-loss.dat' index 1 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 2 notitle, \
     'fashion-mnist-train-loss.dat' index 1 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 2 title 'signum', \
     'fashion-mnist-train-loss.dat' index 2 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 3 notitle, \
     'fashion-mnist-train-loss.dat' index 2 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 3 title 'dithered-signum', \
     'fashion-mnist-train-loss.dat' index 3 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 4 notitle, \
     'fashion-mnist-train-loss.dat' index 3 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 4 title 'hybrid switch-step=473', \
     'fashion-mnist-train-loss.dat' index 4 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 5 notitle, \
     'fashion-mnist-train-loss.dat' index 4 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 5 title 'hybrid switch-step=945', \
     'fashion-mnist-train-loss.dat' index 5 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 6 notitle, \
     'fashion-mnist-train-loss.dat' index 5 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 6 title 'hybrid switch-step=1418'
set terminal svg size 1000,620 dynamic font ',10'
set output 'fashion-mnist-train-loss.svg'
replot
unset output
set terminal pngcairo size 1000,620 font ',10'
set output 'fashion-mnist-val-accuracy.png'

# fashion-mnist: validation accuracy per epoch (mean over seeds, band: min..max)
reset
set termoption noenhanced
set title 'fashion-mnist: validation accuracy per epoch (mean over seeds, band: min..max)'
set xlabel 'epoch'
set ylabel 'validation accuracy (%)'
set grid
set key bottom right box opaque
set xtics 1
plot 'fashion-mnist-val-accuracy.dat' index 0 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 1 notitle, \
     'fashion-mnist-val-accuracy.dat' index 0 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 1 title 'sgd', \
     'fashion-mnist-val-accuracy.dat' index 1 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 2 notitle, \
     'fashion-mnist-val-accuracy.dat' index 1 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 2 title 'signum', \
     'fashion-mnist-val-accuracy.dat' index 2 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 3 notitle, \
     'fashion-mnist-val-accuracy.dat' index 2 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 3 title 'dithered-signum', \
     'fashion-mnist-val-accuracy.dat' index 3 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 4 notitle, \
     'fashion-mnist-val-accuracy.dat' index 3 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 4 title 'hybrid switch-step=473', \
     'fashion-mnist-val-accuracy.dat' index 4 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 5 notitle, \
     'fashion-mnist-val-accuracy.dat' index 4 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 5 title 'hybrid switch-step=945', \
     'fashion-mnist-val-accuracy.dat' index 5 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 6 notitle, \
     'fashion-mnist-val-accuracy.dat' index 5 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 6 title 'hybrid switch-step=1418'
set terminal svg size 1000,620 dynamic font ',10'
set output 'fashion-mnist-val-accuracy.svg'
replot
unset output
set terminal pngcairo size 1000,620 font ',10'
set output 'fashion-mnist-hybrid-calibrated-lr.png'

# fashion-mnist: hybrid's calibrated SGD rate and phase per step (mean over seeds, band: min..max)
reset
set termoption noenhanced
set title 'fashion-mnist: hybrid''s calibrated SGD rate and phase per step (mean over seeds, band: min..max)'
set xlabel 'step'
set ylabel 'calibrated lr'
set grid
set key top right box opaque
set y2range [-0.05:1.05]
set y2tics ('sign' 0, 'sgd' 1)
set ytics nomirror
set y2label 'phase'
plot 'fashion-mnist-hybrid-calibrated-lr.dat' index 0 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 1 notitle, \
     'fashion-mnist-hybrid-calibrated-lr.dat' index 0 using 1:2 with lines lw 2 lc 1 title 'hybrid switch-step=473', \
     'fashion-mnist-hybrid-calibrated-lr.dat' index 0 using 1:5 axes x1y2 with steps dt 2 lw 1.5 lc 1 title 'hybrid switch-step=473: phase', \
     'fashion-mnist-hybrid-calibrated-lr.dat' index 1 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 2 notitle, \
     'fashion-mnist-hybrid-calibrated-lr.dat' index 1 using 1:2 with lines lw 2 lc 2 title 'hybrid switch-step=945', \
     'fashion-mnist-hybrid-calibrated-lr.dat' index 1 using 1:5 axes x1y2 with steps dt 2 lw 1.5 lc 2 title 'hybrid switch-step=945: phase', \
     'fashion-mnist-hybrid-calibrated-lr.dat' index 2 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 3 notitle, \
     'fashion-mnist-hybrid-calibrated-lr.dat' index 2 using 1:2 with lines lw 2 lc 3 title 'hybrid switch-step=1418', \
     'fashion-mnist-hybrid-calibrated-lr.dat' index 2 using 1:5 axes x1y2 with steps dt 2 lw 1.5 lc 3 title 'hybrid switch-step=1418: phase'
set terminal svg size 1000,620 dynamic font ',10'
set output 'fashion-mnist-hybrid-calibrated-lr.svg'
replot
unset output
set terminal pngcairo size 1000,620 font ',10'
set output 'fashion-mnist-dither-alpha.png'

# fashion-mnist: dither alpha_t per step (noise std = alpha_t x per-tensor scale; mean over seeds)
reset
set termoption noenhanced
set title 'fashion-mnist: dither alpha_t per step (noise std = alpha_t x per-tensor scale; mean over seeds)'
set xlabel 'step'
set ylabel 'alpha_t'
set grid
set key top right box opaque
plot 'fashion-mnist-dither-alpha.dat' index 0 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 1 notitle, \
     'fashion-mnist-dither-alpha.dat' index 0 using 1:2 with lines lw 2 lc 1 title 'dithered-signum'
set terminal svg size 1000,620 dynamic font ',10'
set output 'fashion-mnist-dither-alpha.svg'
replot
unset output
set terminal pngcairo size 1000,620 font ',10'
set output 'fashion-mnist-hybrid_switch-step_473-calibration.png'

# fashion-mnist, hybrid switch-step=473: lambda_ema per estimator, calibrated rate and switch (mean over seeds, band: min..max)
reset
set termoption noenhanced
set title 'fashion-mnist, hybrid switch-step=473: lambda_ema per estimator, calibrated rate and switch (mean over seeds, band: min..max)'
set xlabel 'step'
set ylabel 'lambda_ema: the SGD rate each estimator would pick'
set grid
set key top right box opaque
set logscale y
set arrow from 500, graph 0 to 500, graph 1 nohead dt 3 lw 1.5 lc rgb 'black'
set label 'switch to SGD (step 500)' at 500, graph 0.97 right rotate by 90 offset -0.8, 0
plot 'fashion-mnist-hybrid_switch-step_473-calibration.dat' index 0 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 1 notitle, \
     'fashion-mnist-hybrid_switch-step_473-calibration.dat' index 0 using 1:2 with lines lw 2 lc 1 title 'swats', \
     'fashion-mnist-hybrid_switch-step_473-calibration.dat' index 1 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 2 notitle, \
     'fashion-mnist-hybrid_switch-step_473-calibration.dat' index 1 using 1:2 with lines lw 2 lc 2 title 'least_squares', \
     'fashion-mnist-hybrid_switch-step_473-calibration.dat' index 2 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 3 notitle, \
     'fashion-mnist-hybrid_switch-step_473-calibration.dat' index 2 using 1:2 with lines lw 2 lc 3 title 'norm', \
     'fashion-mnist-hybrid_switch-step_473-calibration.dat' index 3 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 4 notitle, \
     'fashion-mnist-hybrid_switch-step_473-calibration.dat' index 3 using 1:2 with lines lw 2 lc 4 title 'momentum_ls', \
     'fashion-mnist-hybrid_switch-step_473-calibration.dat' index 4 using 1:2 with lines dt 2 lw 2 lc rgb 'black' title 'calibrated_lr (the run''s rate)'
set terminal svg size 1000,620 dynamic font ',10'
set output 'fashion-mnist-hybrid_switch-step_473-calibration.svg'
replot
unset output
set terminal pngcairo size 1000,620 font ',10'
set output 'fashion-mnist-hybrid_switch-step_945-calibration.png'

# fashion-mnist, hybrid switch-step=945: lambda_ema per estimator, calibrated rate and switch (mean over seeds, band: min..max)
reset
set termoption noenhanced
set title 'fashion-mnist, hybrid switch-step=945: lambda_ema per estimator, calibrated rate and switch (mean over seeds, band: min..max)'
set xlabel 'step'
set ylabel 'lambda_ema: the SGD rate each estimator would pick'
set grid
set key top right box opaque
set logscale y
set arrow from 945, graph 0 to 945, graph 1 nohead dt 3 lw 1.5 lc rgb 'black'
set label 'switch to SGD (step 945)' at 945, graph 0.97 right rotate by 90 offset -0.8, 0
plot 'fashion-mnist-hybrid_switch-step_945-calibration.dat' index 0 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 1 notitle, \
     'fashion-mnist-hybrid_switch-step_945-calibration.dat' index 0 using 1:2 with lines lw 2 lc 1 title 'swats', \
     'fashion-mnist-hybrid_switch-step_945-calibration.dat' index 1 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 2 notitle, \
     'fashion-mnist-hybrid_switch-step_945-calibration.dat' index 1 using 1:2 with lines lw 2 lc 2 title 'least_squares', \
     'fashion-mnist-hybrid_switch-step_945-calibration.dat' index 2 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 3 notitle, \
     'fashion-mnist-hybrid_switch-step_945-calibration.dat' index 2 using 1:2 with lines lw 2 lc 3 title 'norm', \
     'fashion-mnist-hybrid_switch-step_945-calibration.dat' index 3 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 4 notitle, \
     'fashion-mnist-hybrid_switch-step_945-calibration.dat' index 3 using 1:2 with lines lw 2 lc 4 title 'momentum_ls', \
     'fashion-mnist-hybrid_switch-step_945-calibration.dat' index 4 using 1:2 with lines dt 2 lw 2 lc rgb 'black' title 'calibrated_lr (the run''s rate)'
set terminal svg size 1000,620 dynamic font ',10'
set output 'fashion-mnist-hybrid_switch-step_945-calibration.svg'
replot
unset output
set terminal pngcairo size 1000,620 font ',10'
set output 'fashion-mnist-hybrid_switch-step_1418-calibration.png'

# fashion-mnist, hybrid switch-step=1418: lambda_ema per estimator, calibrated rate and switch (mean over seeds, band: min..max)
reset
set termoption noenhanced
set title 'fashion-mnist, hybrid switch-step=1418: lambda_ema per estimator, calibrated rate and switch (mean over seeds, band: min..max)'
set xlabel 'step'
set ylabel 'lambda_ema: the SGD rate each estimator would pick'
set grid
set key top right box opaque
set logscale y
set arrow from 1449, graph 0 to 1449, graph 1 nohead dt 3 lw 1.5 lc rgb 'black'
set label 'switch to SGD (step 1449)' at 1449, graph 0.97 right rotate by 90 offset -0.8, 0
plot 'fashion-mnist-hybrid_switch-step_1418-calibration.dat' index 0 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 1 notitle, \
     'fashion-mnist-hybrid_switch-step_1418-calibration.dat' index 0 using 1:2 with lines lw 2 lc 1 title 'swats', \
     'fashion-mnist-hybrid_switch-step_1418-calibration.dat' index 1 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 2 notitle, \
     'fashion-mnist-hybrid_switch-step_1418-calibration.dat' index 1 using 1:2 with lines lw 2 lc 2 title 'least_squares', \
     'fashion-mnist-hybrid_switch-step_1418-calibration.dat' index 2 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 3 notitle, \
     'fashion-mnist-hybrid_switch-step_1418-calibration.dat' index 2 using 1:2 with lines lw 2 lc 3 title 'norm', \
     'fashion-mnist-hybrid_switch-step_1418-calibration.dat' index 3 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 4 notitle, \
     'fashion-mnist-hybrid_switch-step_1418-calibration.dat' index 3 using 1:2 with lines lw 2 lc 4 title 'momentum_ls', \
     'fashion-mnist-hybrid_switch-step_1418-calibration.dat' index 4 using 1:2 with lines dt 2 lw 2 lc rgb 'black' title 'calibrated_lr (the run''s rate)'
set terminal svg size 1000,620 dynamic font ',10'
set output 'fashion-mnist-hybrid_switch-step_1418-calibration.svg'
replot
unset output
